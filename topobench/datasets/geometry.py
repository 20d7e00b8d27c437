"""Embedding-distribution statistics of a dataset, computed when it is built and stored in its ``geometry`` group.

Why: the benchmark asks how training changes what ANN indexes see. These numbers describe what they see — how
spread out, how anisotropic, how intrinsically high-dimensional, how "hubby" the embeddings are — so that a
recall-vs-QPS difference between two datasets can be read against a difference in geometry. Every key is a plain
float, comparable across datasets (``export.py`` shows them as one table).

Conventions. ``x̂ = x/‖x‖`` (zero vectors stay zero); ``cos(a, b) = â·b̂``. The *metric space* is what an index
searches: unit vectors for ``angular``, raw vectors for ``euclidean`` and ``ip``. For neighbour distances (LID,
relative contrast) angular uses the chord ``√(2(1 − cos)) = ‖q̂ − x̂‖``, a true metric (the stored ann-benchmarks
``1 − cos`` is half its square); these two keys are omitted for ``ip``, whose "distance" ``−⟨q, x⟩`` is no metric.
Corpus and query samples are drawn without replacement, seeded per statistic from ``seed`` (so adding a statistic
never moves another), at most ``max_points`` corpus vectors each. A key whose value would be NaN/inf or undefined
(e.g. no qrels, zero variance) is omitted and the reason logged.

Keys (``q`` queries, ``d`` corpus documents, ``d⁺`` a document judged relevant, grade ≥ 1):

* ``pos_cos_mean``, ``pos_cos_std`` — mean and (population) standard deviation of ``cos(q, d⁺)`` over qrels pairs,
  each pair weighted once. Omitted without qrels.
* ``alignment`` — Wang & Isola (2020), α = 2: ``E‖q̂ − d̂⁺‖²`` over the same pairs (= 2 − 2·pos_cos_mean). 0 is
  perfect alignment, 4 the worst.
* ``uniformity`` — Wang & Isola (2020), t = 2: ``log E exp(−2‖x̂ − ŷ‖²)`` over distinct pairs of a corpus sample of
  ``UNIFORMITY_POINTS``. Range [−4, 0]; uniform on the sphere S^{D−1} gives ≈ −4 + 8/D, one point gives 0.
* ``anisotropy`` — Ethayarajh (2019): mean ``cos(x, y)`` over all distinct pairs of the corpus sample, computed
  exactly as ``(‖Σx̂‖² − Σ‖x̂‖²)/(S(S−1))``. ≈ 0 isotropic, → 1 all in one direction.
* ``effective_dim`` — participation ratio ``(Σλ)²/Σλ² = (tr Σ)²/tr Σ²`` of the eigenvalues of the (centred)
  covariance of the corpus in the metric space (Recanatesi et al. 2022), estimated without the 1/S sample-size bias
  (see ``_spectrum``). D for isotropic data, k on a k-dim subspace, 1 on a line. Centred: a common offset raises
  ``anisotropy``, not this. (No ``dim95``: it needs an O(D³) eigensolver and is biased by the sample size.)
* ``lid_mle``, ``lid_mle_median`` — local intrinsic dimensionality of the queries against the corpus: the
  Levina–Bickel (2005) MLE ``m̂(q) = (k − 1) / Σ_{j<k} log(r_k/r_j)`` with k = 20 over each query's exact
  neighbour distances ``r_1 ≤ … ≤ r_k`` (the stored ``distances``; duplicates of the query — distances under
  ``DUPLICATE_TOL`` × the median 20th-neighbour distance — are skipped); mean (as Levina–Bickel and Aumüller &
  Ceccarello 2021) and median over queries.
* ``relative_contrast`` — He, Kumar & Chang (2012): mean over queries of ``D_mean(q)/D_min(q)``, ``D_min`` the
  exact 1-NN distance (stored; queries whose 1-NN is a duplicate are skipped) and ``D_mean`` the mean distance to
  a corpus sample of ``CONTRAST_POINTS``. Near 1: neighbours barely stand out (hard for ANN); large: easy.
* ``hubness_skew`` — Radovanović et al. (2010): skewness ``E(N − μ)³/σ³`` of the 10-occurrence ``N(x)`` (how
  many queries have ``x`` in their exact top-10, from ``neighbors``) over all corpus points. Without hubs N is
  about Poisson(λ = 10·m/n), skew ≈ 1/√λ: compare datasets with similar query/corpus ratios.
* ``hub_occurrence_max`` — ``max N(x) / mean N(x)``: how many times its fair share the biggest hub is retrieved.
* ``hubness_skew_corpus`` — the same skewness in Radovanović's own setting, comparable across datasets: each of
  ``HUBNESS_POINTS`` sampled corpus points retrieves its 10 nearest among the others (metric space; m = n,
  λ = 10, so no hubs gives ≈ 0.3).
* ``ivf_imbalance`` — faiss's ``imbalance_factor`` ``nlist·Σc²/(Σc)²`` of the list sizes ``c`` of a k-means
  IVF with ``nlist = round(√n)`` (as the ``ivf`` index: 10 iterations, spherical for angular and ip), trained
  on the corpus sample. 1 is perfectly balanced, nlist all in one list; it scales IVF search cost. When the
  sample is not the whole corpus the unbiased ``nlist·Σc(c−1)/(S(S−1))`` (floored at 1) is used instead.
* ``query_corpus_gap`` — the modality gap of Liang et al. (2022): ``‖mean q̂ − mean d̂‖``.
* ``query_corpus_cos_gap`` — mean ``cos(q, d)`` over all query–document pairs of the samples minus
  ``anisotropy`` (mean document–document cosine): < 0 when queries sit apart from the documents.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

LID_K = 20
HUBNESS_K = 10
UNIFORMITY_POINTS = 2048  # S(S−1)/2 ≈ 2.1M pairs, one 2048² Gram matrix
HUBNESS_POINTS = 2048
CONTRAST_POINTS = 4096
CONTRAST_QUERIES = 2048
SPECTRUM_FLOPS = 3 * 10**9  # the covariance sample is capped at this / D² rows (≥ 2,000)
DUPLICATE_TOL = 1e-3  # neighbour distances below this × the typical one are duplicates of the query
IVF_NITER = 10  # faiss IndexIVF's default (ClusteringParameters in IndexIVF.cp)
METRICS = ("angular", "euclidean", "ip")


def geometry_stats(train: np.ndarray, test: np.ndarray, neighbors: np.ndarray, distances: np.ndarray,
                   distance: str, qrels: np.ndarray | None = None, seed: int = 0,
                   max_points: int = 20000) -> dict[str, float]:
    """All geometry statistics of one dataset (see the module docstring for every key), finite floats only.

    Args:
        train: corpus vectors (n × D); test: query vectors (m × D).
        neighbors, distances: exact top-k of each query against the corpus (ann-benchmarks conventions: angular
            ``1 − cos``, euclidean L2, ip ``−⟨q, x⟩``; -1 / non-finite entries are padding and ignored).
        distance: ``angular``, ``euclidean`` or ``ip``.
        qrels: (pairs × 3) int rows of (query row, doc row, grade), or None for no positive-pair statistics.
        seed: seeds every subsample; the same inputs and seed give the same output.
        max_points: at most this many corpus vectors (and queries, and 10× as many qrels pairs) are sampled; the
            corpus sample feeds anisotropy, the gap, the covariance and k-means.
    """
    if distance not in METRICS:
        raise ValueError(f"unknown distance {distance!r}: expected one of {', '.join(METRICS)}")
    train = np.asarray(train)
    test = np.asarray(test)
    neighbors = np.asarray(neighbors)
    distances = np.asarray(distances, dtype=np.float64)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"train {train.shape} and test {test.shape} must be 2-d with the same dimension")
    if neighbors.shape != distances.shape or len(neighbors) != len(test):
        raise ValueError(f"neighbors {neighbors.shape} / distances {distances.shape} do not match {len(test)} queries")

    out: dict[str, float] = {}
    started = time.perf_counter()
    corpus_rows = _sample(len(train), max_points, seed, "corpus")
    docs = _unit(train[corpus_rows])
    space = docs if distance == "angular" else np.asarray(train[corpus_rows], dtype=np.float32)
    steps: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("positive pairs", lambda: _positive_pairs(train, test, qrels, seed, max_points)),
        ("uniformity", lambda: _uniformity(docs, seed)),
        ("anisotropy and gap", lambda: _anisotropy_gap(docs, test, seed, max_points)),
        ("spectrum", lambda: _spectrum(space, seed)),
        ("lid", lambda: _lid(distances, neighbors, distance)),
        ("relative contrast", lambda: _relative_contrast(train, test, distances, neighbors, distance, seed)),
        ("hubness", lambda: _hubness(neighbors, len(train))),
        ("corpus hubness", lambda: _corpus_hubness(space, distance, seed)),
        ("ivf imbalance", lambda: _ivf_imbalance(space, len(train), distance, seed)),
    ]
    for name, step in steps:
        t0 = time.perf_counter()
        out.update(step())
        logger.debug("geometry %s: %.3f s", name, time.perf_counter() - t0)
    for key in [k for k, v in out.items() if not np.isfinite(v)]:
        _omit(key, f"non-finite value {out.pop(key)}")
    logger.info("geometry statistics of %d × %d corpus, %d queries in %.2f s", *train.shape, len(test),
                time.perf_counter() - started)
    return out


def _omit(key: str, reason: str) -> None:
    logger.info("geometry: %s omitted: %s", key, reason)


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent generator per statistic, so that each sample depends only on (seed, name)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _sample(n: int, size: int, seed: int, name: str) -> np.ndarray:
    """Sorted row indices: all of ``range(n)`` when ``n <= size``, else a seeded sample without replacement."""
    if n <= size:
        return np.arange(n)
    return np.sort(_rng(seed, name).choice(n, size=size, replace=False))


def _unit(X: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation as float32; zero rows stay zero."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _positive_pairs(train: np.ndarray, test: np.ndarray, qrels: np.ndarray | None, seed: int,
                    max_points: int) -> dict[str, float]:
    """Cosines of judged-relevant (query, document) pairs; rows outside the arrays are logged and ignored."""
    keys = ("pos_cos_mean", "pos_cos_std", "alignment")
    if qrels is None:
        return {}
    qrels = np.asarray(qrels, dtype=np.int64).reshape(-1, 3)
    valid = (qrels[:, 2] >= 1) & (qrels[:, 0] >= 0) & (qrels[:, 0] < len(test)) & (qrels[:, 1] >= 0) & (
        qrels[:, 1] < len(train))
    bad = int(((qrels[:, 2] >= 1) & ~valid).sum())
    if bad:
        logger.warning("geometry: %d relevant qrels rows point outside test/train; ignored", bad)
    pairs = qrels[valid]
    if len(pairs) == 0:
        for key in keys:
            _omit(key, "no relevant (grade ≥ 1) query–document pairs")
        return {}
    pairs = pairs[_sample(len(pairs), 10 * max_points, seed, "pairs")]
    cos = np.concatenate([
        (_unit(test[chunk[:, 0]]) * _unit(train[chunk[:, 1]])).sum(axis=1, dtype=np.float64)
        for chunk in np.array_split(pairs, max(1, len(pairs) // 8192))
    ])
    cos = np.clip(cos, -1.0, 1.0)
    return {"pos_cos_mean": float(cos.mean()), "pos_cos_std": float(cos.std()),
            "alignment": float(np.mean(2.0 - 2.0 * cos))}


def _uniformity(docs: np.ndarray, seed: int) -> dict[str, float]:
    """Wang & Isola's uniformity over all distinct pairs of a ``UNIFORMITY_POINTS`` sample (one Gram matrix)."""
    if len(docs) < 2:
        _omit("uniformity", "fewer than 2 corpus vectors")
        return {}
    X = docs[_sample(len(docs), UNIFORMITY_POINTS, seed, "uniformity")]
    sq_norms = (X.astype(np.float64) ** 2).sum(axis=1)
    sq = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * (X @ X.T), 0.0)  # ‖x̂ − ŷ‖², S × S
    np.fill_diagonal(sq, np.inf)  # exp(−∞) = 0: only distinct pairs count
    s = len(X)
    return {"uniformity": float(np.log(np.exp(-2.0 * sq).sum() / (s * (s - 1))))}


def _anisotropy_gap(docs: np.ndarray, test: np.ndarray, seed: int, max_points: int) -> dict[str, float]:
    """Mean pairwise cosines from mean unit vectors: exact over all pairs of the samples, no pair sampling needed."""
    out: dict[str, float] = {}
    s = len(docs)
    doc_sum = docs.sum(axis=0, dtype=np.float64)
    if s >= 2:
        self_sq = float((docs.astype(np.float64) ** 2).sum())
        out["anisotropy"] = (float(doc_sum @ doc_sum) - self_sq) / (s * (s - 1))
    else:
        _omit("anisotropy", "fewer than 2 corpus vectors")
    if s == 0 or len(test) == 0:
        _omit("query_corpus_gap", "no queries or no corpus")
        return out
    queries = _unit(test[_sample(len(test), max_points, seed, "queries")])
    mu_q = queries.mean(axis=0, dtype=np.float64)
    mu_d = doc_sum / s
    out["query_corpus_gap"] = float(np.linalg.norm(mu_q - mu_d))
    if "anisotropy" in out:
        out["query_corpus_cos_gap"] = float(mu_q @ mu_d) - out["anisotropy"]
    return out


def _spectrum(space: np.ndarray, seed: int) -> dict[str, float]:
    """Participation ratio from traces (no eigensolver, so any D is cheap), de-biased for the sample size.

    With centred rows ``x_i`` and ``a_i = ‖x_i‖²``, the i ≠ j terms of ``(Σa)²`` and ``‖XᵀX‖_F² = Σ(x_i·x_j)²`` are
    unbiased for ``(tr Σ)²`` and ``tr Σ²`` up to O(1/S): the i = j terms are what inflate the plain sample estimate
    (Marchenko–Pastur: 357 instead of 384 for 5,000 isotropic 384-d points). ``XᵀX`` or ``XXᵀ``, whichever is smaller,
    and at most ``SPECTRUM_FLOPS / D²`` (≥ 2,000) rows, keep the cost bounded for wide embeddings.
    """
    if len(space) < 3:
        _omit("effective_dim", "fewer than 3 corpus vectors")
        return {}
    dim = space.shape[1]
    X = space[_sample(len(space), max(2000, SPECTRUM_FLOPS // dim**2), seed, "spectrum")]
    X = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
    a = (X.astype(np.float64) ** 2).sum(axis=1)
    small = X.T @ X if dim <= len(X) else X @ X.T
    numerator = a.sum() ** 2 - (a**2).sum()
    denominator = float((small.astype(np.float64) ** 2).sum()) - (a**2).sum()
    if a.sum() <= 0 or denominator <= 0:
        _omit("effective_dim", "the corpus sample has zero variance")
        return {}
    return {"effective_dim": float(np.clip(numerator / denominator, 1.0, dim))}


def _metric_distances(distances: np.ndarray, neighbors: np.ndarray, distance: str) -> np.ndarray:
    """Stored distances as a true metric (chord for angular), NaN where padded or a duplicate of the query.

    Duplicates: distances under ``DUPLICATE_TOL`` × the median k-th neighbour distance. float32 ground truth cannot
    tell them from 0 (an exact duplicate comes back as 1 − cos ≈ 1e-7, a chord of 5e-4), and a true 0 would make
    LID and relative contrast infinite. Only for angular and euclidean.
    """
    r = np.where((neighbors >= 0) & np.isfinite(distances), distances, np.nan)
    if distance == "angular":
        r = np.sqrt(2.0 * np.maximum(r, 0.0))
    if r.size == 0 or np.isnan(r).all():
        return r
    kth = r[:, min(LID_K, r.shape[1]) - 1]
    scale = np.nanmedian(r if np.isnan(kth).all() else kth)
    return np.where(r > DUPLICATE_TOL * scale, r, np.nan)


def _lid(distances: np.ndarray, neighbors: np.ndarray, distance: str) -> dict[str, float]:
    if distance == "ip":
        _omit("lid_mle", "inner-product 'distances' are not a metric")
        return {}
    r = np.sort(_metric_distances(distances, neighbors, distance), axis=1)  # duplicates skipped: NaN sorts last
    k = min(LID_K, r.shape[1])
    r = r[:, :k]
    complete = ~np.isnan(r).any(axis=1)
    if k < 3 or not complete.any():
        _omit("lid_mle", f"no query has {LID_K} non-duplicate neighbour distances")
        return {}
    r = r[complete]
    log_sum = np.log(r[:, -1:] / r[:, :-1]).sum(axis=1)
    ok = log_sum > 0
    if not ok.any():
        _omit("lid_mle", "every query's neighbours are equidistant")
        return {}
    skipped = len(distances) - int(ok.sum())
    if skipped:
        logger.info("geometry: lid_mle over %d queries; %d skipped (padding, duplicates or ties)", ok.sum(), skipped)
    lid = (k - 1) / log_sum[ok]
    return {"lid_mle": float(lid.mean()), "lid_mle_median": float(np.median(lid))}


def _relative_contrast(train: np.ndarray, test: np.ndarray, distances: np.ndarray, neighbors: np.ndarray,
                       distance: str, seed: int) -> dict[str, float]:
    if distance == "ip":
        _omit("relative_contrast", "inner-product 'distances' are not a metric")
        return {}
    if neighbors.shape[1] == 0 or len(test) == 0:
        _omit("relative_contrast", "no neighbours stored")
        return {}
    rows = _sample(len(test), CONTRAST_QUERIES, seed, "contrast-queries")
    d_min = _metric_distances(distances, neighbors, distance)[rows, 0]  # NaN: the 1-NN is a duplicate or missing
    X = train[_sample(len(train), CONTRAST_POINTS, seed, "contrast-corpus")]
    Q = test[rows]
    if distance == "angular":
        X, Q = _unit(X), _unit(Q)
    X = np.asarray(X, dtype=np.float32)
    Q = np.asarray(Q, dtype=np.float32)
    sq = (Q**2).sum(axis=1)[:, None] + (X**2).sum(axis=1)[None, :] - 2.0 * (Q @ X.T)
    d_mean = np.sqrt(np.maximum(sq, 0.0)).mean(axis=1, dtype=np.float64)
    ok = ~np.isnan(d_min)
    if not ok.any():
        _omit("relative_contrast", "every query's nearest neighbour is a duplicate of it or missing")
        return {}
    if not ok.all():
        logger.info("geometry: relative_contrast skips %d queries with a duplicate or missing 1-NN", (~ok).sum())
    return {"relative_contrast": float(np.mean(d_mean[ok] / d_min[ok]))}


def _hubness(neighbors: np.ndarray, n: int) -> dict[str, float]:
    """k-occurrence of the corpus under the queries' exact top-10 (the stored ground truth)."""
    top = neighbors[:, :HUBNESS_K].ravel()
    top = top[(top >= 0) & (top < n)]
    if len(top) == 0 or n < 2:
        _omit("hubness_skew", "no neighbours stored")
        return {}
    counts = np.bincount(top, minlength=n).astype(np.float64)
    out = {"hub_occurrence_max": float(counts.max() / counts.mean())}
    skew = _skewness(counts)
    if skew is None:
        _omit("hubness_skew", "every corpus point occurs equally often (zero variance)")
    else:
        out["hubness_skew"] = skew
    return out


def _corpus_hubness(space: np.ndarray, distance: str, seed: int) -> dict[str, float]:
    """Radovanović's own setting: every point of a fixed-size corpus sample queries the rest of it (m = n)."""
    X = space[_sample(len(space), HUBNESS_POINTS, seed, "corpus-hubness")]
    if len(X) <= HUBNESS_K + 1:
        _omit("hubness_skew_corpus", f"fewer than {HUBNESS_K + 2} corpus vectors")
        return {}
    score = -2.0 * (X @ X.T)  # smaller is nearer: −⟨x, y⟩ for angular (unit) and ip, ‖y‖² − 2⟨x, y⟩ for euclidean
    if distance == "euclidean":
        score += (X**2).sum(axis=1)[None, :]
    np.fill_diagonal(score, np.inf)
    top = np.argpartition(score, HUBNESS_K, axis=1)[:, :HUBNESS_K]
    counts = np.bincount(top.ravel(), minlength=len(X)).astype(np.float64)
    skew = _skewness(counts)
    if skew is None:
        _omit("hubness_skew_corpus", "every sampled point occurs equally often (zero variance)")
        return {}
    return {"hubness_skew_corpus": skew}


def _skewness(values: np.ndarray) -> float | None:
    """Population skewness ``E(v − μ)³/σ³``; None when σ = 0."""
    centred = values - values.mean()
    var = float(np.mean(centred**2))
    return float(np.mean(centred**3) / var**1.5) if var > 0 else None


def _ivf_imbalance(space: np.ndarray, n: int, distance: str, seed: int) -> dict[str, float]:
    """List-size imbalance of the IVF the benchmark would build; faiss is imported here, an optional extra."""
    try:
        import faiss
    except ImportError as exc:
        _omit("ivf_imbalance", f"faiss is not installed ({exc}): pip install -e '.[faiss]'")
        return {}
    s, dim = space.shape
    nlist = min(max(1, round(math.sqrt(n))), s)
    if nlist == 1 or s < 2:
        return {"ivf_imbalance": 1.0}
    X = np.ascontiguousarray(space, dtype=np.float32)
    spherical = distance != "euclidean"
    kmeans = faiss.Kmeans(dim, nlist, niter=IVF_NITER, seed=seed, spherical=spherical, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=max(256, -(-s // nlist)))
    kmeans.train(X)
    _, assign = kmeans.index.search(X, 1)
    counts = np.bincount(assign.ravel(), minlength=nlist).astype(np.float64)
    if s == n:
        factor = nlist * float((counts**2).sum()) / s**2  # faiss.imbalance_factor
    else:
        factor = max(1.0, nlist * float((counts * (counts - 1)).sum()) / (s * (s - 1)))
    return {"ivf_imbalance": factor}
