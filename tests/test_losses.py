"""Training losses: InfoNCE and the topology loss against hand-computed values and gradients, shapes, registration.

The expected values are worked out in plain Python (``math``) from 2-d unit vectors at known angles, so the cosines
are exact and the checks do not reuse the torch formula under test.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from helpers import ROOT

torch = pytest.importorskip("torch")

from topobench.core.losses import info_nce, positive_cosine  # noqa: E402
from topobench.core.registry import get_registry  # noqa: E402

SQRT_HALF = math.sqrt(0.5)


def xy(degrees: float) -> tuple[float, float]:
    """The unit vector at an angle, as plain floats."""
    return math.cos(math.radians(degrees)), math.sin(math.radians(degrees))


def unit(*degrees: float) -> torch.Tensor:
    """Rows [cos θ, sin θ] in float64: unit vectors whose pairwise cosines are cos(θ_a − θ_b)."""
    return torch.tensor([xy(a) for a in degrees], dtype=torch.float64)


def ce(scores: list[float], target: int, tau: float) -> float:
    """Cross-entropy −log softmax(scores / τ)[target], by hand."""
    return -scores[target] / tau + math.log(sum(math.exp(s / tau) for s in scores))


def loss_of(name: str, **kwargs):
    return get_registry().get("losses", name).cls(**kwargs)


# --- InfoNCE values ---------------------------------------------------------------------------------------------------


def test_orthogonal_batch_has_closed_form():
    # q1 = d1 = 0°, q2 = d2 = 90°: each query sees cos 1 on its positive and 0 on the other → log(1 + e^(−1/τ)).
    q, p = unit(0, 90), unit(0, 90)
    for tau in (1.0, 0.5, 0.05):
        assert info_nce(q, p, temperature=tau).item() == pytest.approx(math.log1p(math.exp(-1 / tau)), rel=1e-12)


def test_in_batch_negatives_at_known_angles():
    # q1 = 0°, q2 = 90°, d1 = 30°, d2 = 60°: rows [cos30, cos60] and [cos60, cos30] → log(1 + e^((cos60 − cos30)/τ)).
    q, p = unit(0, 90), unit(30, 60)
    tau = 0.1
    expected = math.log1p(math.exp((0.5 - math.sqrt(3) / 2) / tau))
    assert info_nce(q, p, temperature=tau).item() == pytest.approx(expected, rel=1e-12)


def test_hard_negatives_are_shared_across_the_batch():
    # q1 = 0°, q2 = 90°, d1 = 0°, d2 = 90°; hard negatives n1 = 180° (q1's), n2 = 45° (q2's). Candidates for both
    # queries: [d1, d2, n1, n2], so q1's row is [1, 0, −1, √½] and q2's is [0, 1, 0, √½].
    q, p = unit(0, 90), unit(0, 90)
    negatives = torch.stack([unit(180), unit(45)])  # (2 × 1 × 2)
    tau = 0.5
    row1 = -1 / tau + math.log(math.exp(1 / tau) + 1 + math.exp(-1 / tau) + math.exp(SQRT_HALF / tau))
    row2 = -1 / tau + math.log(1 + math.exp(1 / tau) + 1 + math.exp(SQRT_HALF / tau))
    assert info_nce(q, p, negatives, temperature=tau).item() == pytest.approx((row1 + row2) / 2, rel=1e-12)
    # With no hard negatives only the in-batch term remains; an empty (B × 0 × d) tensor means the same.
    assert info_nce(q, p, temperature=tau).item() == pytest.approx(math.log1p(math.exp(-1 / tau)), rel=1e-12)
    empty = torch.zeros(2, 0, 2, dtype=torch.float64)
    assert info_nce(q, p, empty, temperature=tau).item() == pytest.approx(math.log1p(math.exp(-1 / tau)), rel=1e-12)


def test_symmetric_averages_both_directions():
    # q1 = 0°, q2 = 90°, d1 = 30°, d2 = 150°: cos matrix (rows queries, columns positives) [[c30, −c30], [½, ½]].
    q, p = unit(0, 90), unit(30, 150)
    c30, tau = math.sqrt(3) / 2, 0.2
    q_to_d = (ce([c30, -c30], 0, tau) + ce([0.5, 0.5], 1, tau)) / 2
    d_to_q = (ce([c30, 0.5], 0, tau) + ce([-c30, 0.5], 1, tau)) / 2  # each positive against the two queries
    assert info_nce(q, p, temperature=tau).item() == pytest.approx(q_to_d, rel=1e-12)
    assert info_nce(q, p, temperature=tau, symmetric=True).item() == pytest.approx((q_to_d + d_to_q) / 2, rel=1e-12)
    # Hard negatives enter the query → document direction only: n1 = 180°, n2 = 270° add [−1, 0] and [0, −1].
    negatives = torch.stack([unit(180), unit(270)])
    q_to_d_neg = (ce([c30, -c30, -1, 0], 0, tau) + ce([0.5, 0.5, 0, -1], 1, tau)) / 2
    got = info_nce(q, p, negatives, temperature=tau, symmetric=True).item()
    assert got == pytest.approx((q_to_d_neg + d_to_q) / 2, rel=1e-12)


def test_inputs_are_normalised_inside():
    q, p, n = unit(0, 90), unit(30, 150), torch.stack([unit(180), unit(270)])
    reference = info_nce(q, p, n, temperature=0.1)
    scaled = info_nce(3.0 * q, torch.tensor([[0.5], [7.0]], dtype=torch.float64) * p, 2.0 * n, temperature=0.1)
    assert scaled.item() == pytest.approx(reference.item(), rel=1e-12)
    assert positive_cosine(3.0 * q, 0.5 * p).tolist() == pytest.approx([math.sqrt(3) / 2, 0.5], rel=1e-12)


# --- InfoNCE gradients ------------------------------------------------------------------------------------------------


def test_query_gradient_matches_softmax_minus_onehot():
    # For unit inputs, ∂CE_i/∂logit_j = softmax_ij − [j = i] and logit_ij = q̂_i·c_j/τ, so
    # ∂L/∂q̂_i = (1/(Bτ)) Σ_j (softmax_ij − [j = i]) c_j; normalising inside projects it onto the tangent of q_i:
    # ∂L/∂q_i = (I − q_i q_iᵀ) ∂L/∂q̂_i.
    q_deg, cand_deg, tau = [0.0, 90.0], [30.0, 150.0, 200.0, 60.0], 0.3  # positives d1, d2 then hard negatives n1, n2
    q = unit(*q_deg).requires_grad_(True)
    negatives = torch.stack([unit(cand_deg[2]), unit(cand_deg[3])])
    info_nce(q, unit(*cand_deg[:2]), negatives, temperature=tau).backward()
    batch = len(q_deg)
    for i, a in enumerate(q_deg):
        scores = [math.cos(math.radians(a - b)) for b in cand_deg]
        weights = [math.exp(s / tau) for s in scores]
        soft = [w / sum(weights) for w in weights]
        g = [0.0, 0.0]
        for j, b in enumerate(cand_deg):
            coef = (soft[j] - (1.0 if j == i else 0.0)) / (batch * tau)
            g[0] += coef * xy(b)[0]
            g[1] += coef * xy(b)[1]
        qi = xy(a)
        radial = g[0] * qi[0] + g[1] * qi[1]
        expected = [g[0] - radial * qi[0], g[1] - radial * qi[1]]
        assert q.grad[i].tolist() == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("symmetric", [False, True])
def test_gradcheck_on_unnormalised_inputs(symmetric):
    gen = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
               for shape in [(3, 4), (3, 4), (3, 2, 4)])
    assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, c, temperature=0.3, symmetric=symmetric), (q, p, n))
    topology = loss_of("topology", weight=0.7, temperature=0.3, symmetric=symmetric)
    assert torch.autograd.gradcheck(lambda a, b, c: topology(a, b, c)["loss"], (q, p, n))


# --- plugins ----------------------------------------------------------------------------------------------------------


def test_infonce_plugin_returns_loss_and_detached_component():
    q, p, n = unit(0, 90), unit(30, 150), torch.stack([unit(180), unit(270)])
    q.requires_grad_(True)
    out = loss_of("infonce", temperature=0.2, symmetric=True)(q, p, n)
    assert set(out) == {"loss", "infonce"}
    assert out["loss"].requires_grad and out["loss"].dim() == 0
    assert not out["infonce"].requires_grad
    assert float(out["infonce"]) == pytest.approx(info_nce(q, p, n, temperature=0.2, symmetric=True).item())


def test_topology_is_infonce_plus_weighted_misalignment():
    q, p, n = unit(0, 90), unit(30, 150), torch.stack([unit(180), unit(270)])
    c30, tau, w = math.sqrt(3) / 2, 0.2, 0.6
    out = loss_of("topology", weight=w, temperature=tau)(q, p, n)
    assert set(out) == {"loss", "infonce", "topology", "w"} and out["w"] == w
    misalignment = ((1 - c30) + (1 - 0.5)) / 2  # cos(q1, d1) = cos 30°, cos(q2, d2) = cos 60°
    assert out["topology"].item() == pytest.approx(misalignment, rel=1e-12)
    assert out["infonce"].item() == pytest.approx(info_nce(q, p, n, temperature=tau).item(), rel=1e-12)
    assert out["loss"].item() == pytest.approx(out["infonce"].item() + w * misalignment, rel=1e-12)
    # w = 0 is plain InfoNCE, value for value.
    plain = loss_of("topology", weight=0.0, temperature=tau)(q, p, n)["loss"]
    assert plain.item() == loss_of("infonce", temperature=tau)(q, p, n)["loss"].item()


def test_topology_weight_follows_the_stage_and_the_warm_up():
    q, p, n = unit(0, 90), unit(30, 150), torch.stack([unit(180), unit(270)])
    staged = loss_of("topology", weight=0.6, stage_weights="0.2+0.6+1.0", temperature=0.2)
    seen = []
    for stage in (0, 1, 2, 3):  # a stage past the list keeps the last weight
        staged.set_progress(stage, step=10 * stage, total_steps=40)
        out = staged(q, p, n)
        seen.append(out["w"])
        assert out["loss"].item() == pytest.approx(out["infonce"].item() + out["w"] * out["topology"].item())
    assert seen == [0.2, 0.6, 1.0, 1.0]
    warm = loss_of("topology", weight=0.8, weight_warmup=0.5)
    assert warm(q, p, n)["w"] == 0.0  # before the first step is announced
    weights = []
    for step in (0, 5, 10, 20, 39):
        warm.set_progress(0, step, total_steps=40)
        weights.append(warm.current_weight)
    assert weights == pytest.approx([0.0, 0.2, 0.4, 0.8, 0.8])
    for bad in ({"stage_weights": "0.2+x"}, {"stage_weights": "0.2+-1"}, {"weight_warmup": 1.5}):
        with pytest.raises(ValueError, match="stage_weights|weight_warmup"):
            loss_of("topology", **bad)


def test_topology_gradient_adds_the_alignment_pull():
    # ∂/∂q_i of w·mean(1 − q̂_i·d̂_i) is −(w/B)(I − q̂_i q̂_iᵀ) d̂_i / ‖q_i‖: the difference from InfoNCE's gradient.
    q_deg, p_deg, w, norm = [0.0, 90.0], [30.0, 150.0], 2.0, 3.0
    grads = []
    for name, kwargs in (("topology", {"weight": w}), ("infonce", {})):
        q = (norm * unit(*q_deg)).requires_grad_(True)
        loss_of(name, temperature=0.2, **kwargs)(q, unit(*p_deg))["loss"].backward()
        grads.append(q.grad)
    for i, (a, b) in enumerate(zip(q_deg, p_deg, strict=True)):
        qi, di = xy(a), xy(b)
        radial = qi[0] * di[0] + qi[1] * di[1]
        expected = [-(w / 2) * (di[k] - radial * qi[k]) / norm for k in range(2)]
        assert (grads[0][i] - grads[1][i]).tolist() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_alignment_term_pulls_the_query_onto_its_positive():
    # q = 0°, d⁺ = 10°, hard negative at 20°: InfoNCE alone pushes q away from the negative, hence from d⁺ too; a large
    # enough weight turns the step towards d⁺ (InfoNCE's tangential pull ≈ 0.97 here, the alignment one w·sin 10°).
    p, n = unit(10), torch.stack([unit(20)])

    def cosine_after_step(weight: float) -> float:
        q = unit(0).requires_grad_(True)
        loss_of("topology", weight=weight, temperature=0.05)(q, p, n)["loss"].backward()
        return positive_cosine(q.detach() - 1e-3 * q.grad, p).item()

    before = math.cos(math.radians(10))
    assert cosine_after_step(0.0) < before
    assert cosine_after_step(10.0) > before


def test_plugins_are_registered_and_need_only_torch():
    registry = get_registry()
    for name, plugin in (("infonce", "plugins.losses.infonce"), ("topology", "plugins.losses.topology")):
        registration = registry.get("losses", name)
        assert registration.plugin == plugin
        assert registration.cls.requires == ("torch",)
        assert registration.unavailable_reason() is None


def test_loss_modules_do_not_import_torch():
    # The registry imports every plugin file at start-up; a torch import there would slow down every command.
    folder = str(ROOT / "plugins" / "losses")
    code = (
        "import importlib.util, sys\n"
        "import topobench.core.losses\n"
        "for name in ('infonce', 'topology'):\n"
        f"    spec = importlib.util.spec_from_file_location(name, {folder!r} + f'/{{name}}.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q_shape", "p_shape", "n_shape", "message"),
    [
        ((2, 4), (3, 4), None, "same batch size B, got 2 and 3"),
        ((2, 4), (2, 5), None, "same dimension d, got 4 and 5"),
        ((4,), (4,), None, "queries must be 2-d"),
        ((2, 4), (2, 4), (2, 4), "negatives must be 3-d"),
        ((2, 4), (2, 4), (3, 1, 4), "batch size B=2"),
        ((2, 4), (2, 4), (2, 1, 5), "dimension d=4"),
    ],
)
def test_bad_shapes_are_named(q_shape, p_shape, n_shape, message):
    n = None if n_shape is None else torch.ones(n_shape)
    with pytest.raises(ValueError, match=message):
        info_nce(torch.ones(q_shape), torch.ones(p_shape), n)
    with pytest.raises(ValueError, match=message):
        loss_of("topology")(torch.ones(q_shape), torch.ones(p_shape), n)


def test_bad_parameters_are_rejected():
    q = torch.ones(2, 3)
    for tau in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            info_nce(q, q, temperature=tau)
        with pytest.raises(ValueError, match="temperature must be > 0"):
            loss_of("infonce", temperature=tau)
        with pytest.raises(ValueError, match="temperature must be > 0"):
            loss_of("topology", temperature=tau)
    with pytest.raises(ValueError, match="weight must be >= 0"):
        loss_of("topology", weight=-0.5)
