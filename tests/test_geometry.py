"""Geometry statistics on hand-checkable distributions: each test builds data whose answer is known in closed form."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from topobench.core.distances import exact_knn
from topobench.datasets.geometry import geometry_stats

POSITIVE_KEYS = {"pos_cos_mean", "pos_cos_std", "alignment"}


def stats(train: np.ndarray, test: np.ndarray, distance: str = "angular", **kwargs) -> dict[str, float]:
    """geometry_stats with exact top-100 ground truth computed the way datasets are built."""
    neighbors, distances = exact_knn(train, test, distance, 100, progress=False)
    return geometry_stats(train, test, neighbors, distances, distance, **kwargs)


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_isotropic_gaussian_is_isotropic_and_uniform() -> None:
    d = 128
    g = stats(gaussian(3000, d, 0), gaussian(200, d, 1))
    assert abs(g["anisotropy"]) < 0.01
    assert g["effective_dim"] == pytest.approx(d, rel=0.05)
    # Uniform on S^{d-1}: log E exp(−2‖x − y‖²) = −4 + log E exp(4 cos) ≈ −4 + 8/d (cos ~ N(0, 1/d)).
    assert g["uniformity"] == pytest.approx(-4 + 8 / d, abs=0.01)
    assert g["query_corpus_gap"] < 0.1 and abs(g["query_corpus_cos_gap"]) < 0.01
    assert abs(g["hubness_skew_corpus"]) < 1.0  # no hubs on the sphere: near the Poisson(10) value 0.32
    assert g["relative_contrast"] > 1.0


def test_points_on_a_line_have_one_dimension_and_one_direction() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal(64)
    u /= np.linalg.norm(u)
    along = 5.0 + rng.standard_normal((2000, 1))
    train = (along * u + 0.01 * rng.standard_normal((2000, 64))).astype(np.float32)
    g = stats(train, train[:50] + 0.001, "euclidean")
    assert g["anisotropy"] > 0.99
    assert g["effective_dim"] < 1.1
    assert g["uniformity"] > -0.1  # everything at one point of the sphere: exp(0) = 1


def test_common_offset_raises_anisotropy_not_effective_dim() -> None:
    """effective_dim is of the centred covariance: isotropic noise around one direction stays high-dimensional."""
    rng = np.random.default_rng(0)
    d = 64
    u = np.zeros(d)
    u[0] = 1.0
    train = (u + 0.02 * rng.standard_normal((3000, d))).astype(np.float32)
    g = stats(train, gaussian(20, d, 1))
    assert g["anisotropy"] > 0.95
    assert g["effective_dim"] == pytest.approx(d - 1, rel=0.1)  # normalising flattens the radial direction


def test_linear_subspace_gives_its_dimension() -> None:
    k, d = 5, 64
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((d, k)))[0]  # d × k orthonormal
    train = (rng.standard_normal((5000, k)) @ basis.T).astype(np.float32)
    test = (rng.standard_normal((200, k)) @ basis.T).astype(np.float32)
    g = stats(train, test, "euclidean")
    assert 0.6 * k < g["lid_mle"] < 1.4 * k
    assert 0.6 * k < g["lid_mle_median"] < 1.4 * k
    assert g["effective_dim"] == pytest.approx(k, rel=0.1)


def test_perfectly_aligned_positives() -> None:
    train = gaussian(500, 32, 0)
    rows = np.arange(0, 500, 5)
    test = 3.0 * train[rows]  # same directions, other lengths: cosine 1
    qrels = np.stack([np.arange(len(rows)), rows, np.ones(len(rows), dtype=int)], axis=1)
    g = stats(train, test, qrels=qrels)
    assert g["pos_cos_mean"] == pytest.approx(1.0, abs=1e-6)
    assert g["pos_cos_std"] == pytest.approx(0.0, abs=1e-6)
    assert g["alignment"] == pytest.approx(0.0, abs=1e-6)
    # Every query duplicates its 1-NN: relative contrast is undefined (omitted); LID skips the zero distance.
    assert "relative_contrast" not in g
    assert np.isfinite(g["lid_mle"])


def test_grades_below_one_and_missing_qrels_give_no_positive_keys() -> None:
    train, test = gaussian(300, 16, 0), gaussian(10, 16, 1)
    assert not POSITIVE_KEYS & stats(train, test).keys()
    unjudged = np.array([[0, 1, 0], [1, 2, 0]])
    assert not POSITIVE_KEYS & stats(train, test, qrels=unjudged).keys()
    mixed = np.array([[0, 1, 0], [1, 2, 2], [3, 9999, 1]])  # one relevant pair; one row outside the corpus
    g = stats(train, test, qrels=mixed)
    expected = float(train[2] @ test[1] / np.linalg.norm(train[2]) / np.linalg.norm(test[1]))
    assert g["pos_cos_mean"] == pytest.approx(expected, abs=1e-5)


def test_hub_heavy_neighbours_are_skewed_and_uniform_ones_are_not() -> None:
    n, m = 1000, 100
    train, test = gaussian(n, 8, 0), gaussian(m, 8, 1)
    distances = np.tile(np.linspace(0.1, 1.0, 100, dtype=np.float32), (m, 1))
    round_robin = (np.arange(m)[:, None] * 10 + np.arange(100)[None, :]) % n  # every doc in exactly one top-10
    g = geometry_stats(train, test, round_robin, distances, "euclidean")
    assert "hubness_skew" not in g  # zero variance: skewness undefined, omitted
    assert g["hub_occurrence_max"] == pytest.approx(1.0)
    hubs = round_robin.copy()
    hubs[:, 0] = 0  # doc 0 is in every query's top-10
    g = geometry_stats(train, test, hubs, distances, "euclidean")
    assert g["hubness_skew"] > 5.0
    assert g["hub_occurrence_max"] == pytest.approx(m / (m * 10 / n))


def test_ivf_imbalance_balanced_and_giant_cluster() -> None:
    """Uniform data gets near-equal k-means cells (≈ 1.05); copies of one point all fall in one list."""
    uniform = np.random.default_rng(0).uniform(size=(1600, 4)).astype(np.float32)  # round(√1600) = 40 lists
    test = uniform[:10]
    assert stats(uniform, test, "euclidean")["ivf_imbalance"] < 1.2
    # Sampled path (max_points < n): the unbiased estimator stays near 1 too.
    assert stats(uniform, test, "euclidean", max_points=800)["ivf_imbalance"] < 1.2
    giant = uniform.copy()
    giant[:1400] = uniform[0]  # k-means can split a dense blob, never copies of one point
    assert stats(giant, test, "euclidean")["ivf_imbalance"] > 20.0  # ≈ 40 · (1400/1600)² = 30.6


def test_deterministic_for_a_seed_and_sampling_depends_on_it() -> None:
    train, test = gaussian(3000, 24, 0), gaussian(100, 24, 1)
    neighbors, distances = exact_knn(train, test, "angular", 100, progress=False)
    qrels = np.stack([np.arange(100), neighbors[:, 3], np.ones(100, dtype=int)], axis=1)
    args = (train, test, neighbors, distances, "angular")
    first = geometry_stats(*args, qrels=qrels, seed=7, max_points=1000)
    assert geometry_stats(*args, qrels=qrels, seed=7, max_points=1000) == first
    assert geometry_stats(*args, qrels=qrels, seed=8, max_points=1000)["anisotropy"] != first["anisotropy"]


@pytest.mark.parametrize("distance", ["angular", "euclidean", "ip"])
def test_all_values_finite_floats(distance: str) -> None:
    train, test = gaussian(2000, 32, 0), gaussian(50, 32, 1)
    qrels = np.array([[0, 5, 1], [1, 6, 2], [2, 7, 1]])
    g = stats(train, test, distance, qrels=qrels, max_points=700)
    assert all(isinstance(v, float) and np.isfinite(v) for v in g.values())
    expected = {"pos_cos_mean", "pos_cos_std", "alignment", "uniformity", "anisotropy", "effective_dim",
                "hubness_skew", "hub_occurrence_max", "hubness_skew_corpus", "ivf_imbalance", "query_corpus_gap",
                "query_corpus_cos_gap"}
    metric_keys = {"lid_mle", "lid_mle_median", "relative_contrast"}
    assert g.keys() == (expected if distance == "ip" else expected | metric_keys)


def test_padding_duplicates_and_tiny_inputs_stay_finite(caplog: pytest.LogCaptureFixture) -> None:
    train, test = gaussian(30, 8, 0), gaussian(5, 8, 1)
    neighbors, distances = exact_knn(train, test, "euclidean", 30, progress=False)
    neighbors = np.concatenate([neighbors, np.full((5, 70), -1)], axis=1)  # faiss-style padding to 100
    distances = np.concatenate([distances, np.full((5, 70), np.inf, dtype=np.float32)], axis=1)
    with caplog.at_level(logging.INFO, logger="topobench.datasets.geometry"):
        g = geometry_stats(train, test, neighbors, distances, "euclidean")
        one = geometry_stats(train[:1], test, neighbors[:, :1] * 0, distances[:, :1], "euclidean")
    assert all(np.isfinite(v) for v in g.values())
    assert "lid_mle" in g  # 30 ≥ 20 real neighbours per query
    assert all(np.isfinite(v) for v in one.values())
    assert "uniformity" not in one and one["ivf_imbalance"] == 1.0
    assert "omitted" in caplog.text


def test_rejects_unknown_distance_and_mismatched_shapes() -> None:
    train, test = gaussian(10, 4, 0), gaussian(2, 4, 1)
    neighbors, distances = np.zeros((2, 3), dtype=int), np.zeros((2, 3))
    with pytest.raises(ValueError, match="unknown distance"):
        geometry_stats(train, test, neighbors, distances, "hamming")
    with pytest.raises(ValueError, match="same dimension"):
        geometry_stats(train, test[:, :3], neighbors, distances, "angular")
    with pytest.raises(ValueError, match="do not match"):
        geometry_stats(train, test, neighbors[:1], distances[:1], "angular")
