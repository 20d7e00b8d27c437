"""topology: InfoNCE plus w·(1 − cos(q, d⁺)), pulling each query onto its positive, not only ahead of the negatives."""

from __future__ import annotations

from typing import Any

from topobench.core.hookspecs import hookimpl
from topobench.core.losses import TORCH_INSTALL_HINT, Loss, check_temperature, info_nce, positive_cosine


class TopologyLoss(Loss):
    """InfoNCE + weight · mean(1 − cos(q, d⁺)): contrastive ranking plus an absolute alignment term.

    InfoNCE only asks the positive to beat the negatives; the alignment term also shrinks the query–positive angle
    itself, which changes the embedding geometry an ANN index has to search (the question topobench measures).

    Args:
        weight: w ≥ 0, the alignment term's weight (0 gives plain InfoNCE).
        temperature: τ of the InfoNCE term; the logits are cos / τ.
        symmetric: use the symmetric (query → document and document → query) InfoNCE.
        stage_weights: a w per curriculum stage, joined with ``+`` (``0.2+0.6+1.0``), replacing ``weight`` — the
            seed's follow-up "adapt w to the training stage"; a stage past the last listed keeps the last value.
        weight_warmup: the fraction of all steps over which w rises linearly from 0 to its value (0: no warm-up).

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm.

    Returns ``{"loss", "infonce", "topology", "w"}``: ``loss`` = infonce + w · topology, to minimise; ``infonce`` and
    ``topology`` (the unweighted mean(1 − cos)) detached, for logging, and ``w`` the weight in effect.

    References: van den Oord et al. (2018) for InfoNCE; Wang & Isola, "Understanding Contrastive Representation
    Learning through Alignment and Uniformity on the Hypersphere" (ICML 2020): the extra term is their alignment loss
    (with α = 2 on unit vectors, ‖q − d⁺‖² = 2 · (1 − cos)).
    """

    requires = ("torch",)
    install_hint = TORCH_INSTALL_HINT

    def __init__(self, weight: float = 0.6, temperature: float = 0.05, symmetric: bool = False,
                 stage_weights: str = "", weight_warmup: float = 0.0) -> None:
        self.weight = _non_negative("weight", weight)
        self.temperature = check_temperature(temperature)
        self.symmetric = bool(symmetric)
        try:
            self.stage_weights = [_non_negative("stage_weights", w) for w in str(stage_weights).split("+") if w]
        except ValueError:
            raise ValueError(f"stage_weights must be non-negative numbers joined with '+', e.g. 0.2+0.6+1.0; "
                             f"got {stage_weights!r}") from None
        self.weight_warmup = float(weight_warmup)
        if not 0.0 <= self.weight_warmup <= 1.0:
            raise ValueError(f"weight_warmup must be a fraction of all steps in [0, 1], got {weight_warmup!r}")
        self.current_weight = self.stage_weights[0] if self.stage_weights else self.weight
        if self.weight_warmup:
            self.current_weight = 0.0

    def set_progress(self, stage: int, step: int, total_steps: int) -> None:
        """w for this step: the stage's own (``stage_weights``) or ``weight``, scaled by the warm-up."""
        base = self.stage_weights[min(stage, len(self.stage_weights) - 1)] if self.stage_weights else self.weight
        ramp = min(1.0, step / (self.weight_warmup * total_steps)) if self.weight_warmup and total_steps else 1.0
        self.current_weight = base * ramp

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        contrastive = info_nce(queries, positives, negatives, temperature=self.temperature, symmetric=self.symmetric)
        alignment = (1.0 - positive_cosine(queries, positives)).mean()
        loss = contrastive + self.current_weight * alignment
        return {"loss": loss, "infonce": contrastive.detach(), "topology": alignment.detach(), "w": self.current_weight}


def _non_negative(name: str, value: Any) -> float:
    number = float(value)
    if not number >= 0.0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


@hookimpl
def register_losses(register):
    register("topology", TopologyLoss)
