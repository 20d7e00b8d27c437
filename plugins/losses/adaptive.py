"""adaptive: InfoNCE plus mean_i(w_i · (1 − cos(q_i, d_i⁺))), with w_i set per example by its difficulty."""

from __future__ import annotations

from typing import Any

from topobench.core.hookspecs import hookimpl
from topobench.core.losses import TORCH_INSTALL_HINT, Loss, check_temperature, info_nce, positive_cosine

DIFFICULTIES = ("margin", "rank")


class AdaptiveLoss(Loss):
    """InfoNCE + mean_i(w_i · (1 − cos(q_i, d_i⁺))), w_i ∈ [w_min, w_max] from how hard example i is: the seed's
    follow-up "adapt w to the training sample".

    The topology loss pulls every query onto its positive with one w. Here the pull is strongest where d⁺ is not yet
    the query's nearest candidate — exactly the examples whose positive an index would have to search further for —
    and weakest where d⁺ already wins by a margin, where alignment only spends the embedding space's uniformity.

    Difficulty is read on the candidates InfoNCE scores query i against (:func:`~topobench.core.losses.info_nce`):
    the other B − 1 positives of the batch and all B·n hard negatives (C = B − 1 + B·n of them), by cosine:

    * ``margin`` (default): m_i = cos(q_i, d_i⁺) − max_c cos(q_i, c), and
      w_i = w_min + (w_max − w_min) · σ(−m_i / margin_scale): w_max when d⁺ trails far, the midpoint when d⁺ ties its
      strongest rival, w_min when it leads far;
    * ``rank``: r_i = #{c : cos(q_i, c) ≥ cos(q_i, d_i⁺)} (ties count as harder), and
      w_i = w_min + (w_max − w_min) · r_i / C: w_min when d⁺ ranks first, w_max when it ranks last.

    With no candidate (B = 1, no hard negatives) w_i = w_min. Both mappings stay within [w_min, w_max].

    w_i is detached: it weights an example, it is not an objective. A gradient through w_i would add a hidden
    second contrastive term (raise the margin to lower the weight) whose sign and scale follow σ′ rather than a
    choice, and the rank mapping is piecewise constant (zero gradient almost everywhere) — detached, both mappings
    give each example exactly the topology term's gradient, scaled by w_i.

    Args:
        w_min: the weight of the easiest examples (≥ 0).
        w_max: the weight of the hardest examples (≥ w_min); w_min = w_max is the topology loss at w = w_min.
        difficulty: ``margin`` or ``rank`` (the mapping above).
        margin_scale: s > 0, the cosine margin over which the ``margin`` mapping moves from one bound to the other
            (σ(±2) at a margin of ∓2s).
        temperature: τ of the InfoNCE term.

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm.

    Returns ``{"loss", "infonce", "topology", "w", "w_low", "w_high"}``: ``loss`` to minimise; ``infonce`` and
    ``topology`` (the unweighted mean(1 − cos)) detached; ``w`` the batch's mean w_i, ``w_low``/``w_high`` its least
    and greatest.

    References: Wang & Isola (ICML 2020) for the alignment term; Lin et al., "Focal Loss for Dense Object Detection"
    (ICCV 2017) for per-example weights by difficulty; van den Oord et al. (2018) for InfoNCE.
    """

    requires = ("torch",)
    install_hint = TORCH_INSTALL_HINT

    def __init__(self, w_min: float = 0.2, w_max: float = 1.0, difficulty: str = "margin", margin_scale: float = 0.05,
                 temperature: float = 0.05) -> None:
        self.w_min, self.w_max = float(w_min), float(w_max)
        if not 0.0 <= self.w_min <= self.w_max:  # also rejects NaN
            raise ValueError(f"need 0 <= w_min <= w_max, got w_min={w_min!r}, w_max={w_max!r}")
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")
        self.difficulty = difficulty
        self.margin_scale = check_temperature(margin_scale)
        self.temperature = check_temperature(temperature)

    def weights(self, queries: Any, positives: Any, negatives: Any | None = None) -> Any:
        """w_i for each example: a detached (B,) tensor in [w_min, w_max]."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            q, p = F.normalize(queries, dim=-1), F.normalize(positives, dim=-1)
            if negatives is not None:
                negatives = F.normalize(negatives, dim=-1).reshape(-1, p.shape[1])  # B·n × d
            candidates = p if negatives is None else torch.cat([p, negatives])
            scores = q @ candidates.T  # B × (B + B·n); column i is d_i⁺
            batch = len(q)
            own = torch.arange(batch, device=q.device)
            positive = scores[own, own]  # (B,)
            rivals = scores.clone()
            rivals[own, own] = -torch.inf  # d_i⁺ is no rival of itself
            count = scores.shape[1] - 1  # C
            if count == 0:
                return torch.full((batch,), self.w_min, dtype=scores.dtype, device=scores.device)
            if self.difficulty == "margin":
                margin = positive - rivals.max(dim=1).values  # (B,)
                fraction = torch.sigmoid(-margin / self.margin_scale)
            else:
                fraction = (rivals >= positive[:, None]).sum(dim=1).to(scores.dtype) / count
            return (self.w_min + (self.w_max - self.w_min) * fraction).clamp(self.w_min, self.w_max)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        contrastive = info_nce(queries, positives, negatives, temperature=self.temperature)  # scalar
        weights = self.weights(queries, positives, negatives)  # (B,), detached
        gap = 1.0 - positive_cosine(queries, positives)  # (B,)
        loss = contrastive + (weights * gap).mean()
        return {"loss": loss, "infonce": contrastive.detach(), "topology": gap.mean().detach(),
                "w": weights.mean(), "w_low": weights.min(), "w_high": weights.max()}


@hookimpl
def register_losses(register):
    register("adaptive", AdaptiveLoss)


@hookimpl
def register_recipes(register):
    # Bounds around topo's w = 0.6, chosen on the dev split (docs/STUDIES.md, "index-aware"; the sweep's record:
    # studies/index-aware/dev-sweep-adaptive-fast.json).
    register("adaptive", {"loss": "adaptive", "loss_args": {"temperature": 0.05, "w_min": 0.2, "w_max": 1.0}})
