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

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm.

    Returns ``{"loss", "infonce", "topology"}``: ``loss`` = infonce + weight · topology, to minimise; ``infonce`` and
    ``topology`` (the unweighted mean(1 − cos)) detached, for logging.

    References: van den Oord et al. (2018) for InfoNCE; Wang & Isola, "Understanding Contrastive Representation
    Learning through Alignment and Uniformity on the Hypersphere" (ICML 2020): the extra term is their alignment loss
    (with α = 2 on unit vectors, ‖q − d⁺‖² = 2 · (1 − cos)).
    """

    requires = ("torch",)
    install_hint = TORCH_INSTALL_HINT

    def __init__(self, weight: float = 0.6, temperature: float = 0.05, symmetric: bool = False) -> None:
        self.weight = float(weight)
        if not self.weight >= 0.0:  # also rejects NaN
            raise ValueError(f"weight must be >= 0, got {weight!r}")
        self.temperature = check_temperature(temperature)
        self.symmetric = bool(symmetric)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        contrastive = info_nce(queries, positives, negatives, temperature=self.temperature, symmetric=self.symmetric)
        alignment = (1.0 - positive_cosine(queries, positives)).mean()
        loss = contrastive + self.weight * alignment
        return {"loss": loss, "infonce": contrastive.detach(), "topology": alignment.detach()}


@hookimpl
def register_losses(register):
    register("topology", TopologyLoss)
