"""infonce: contrastive InfoNCE over in-batch and hard negatives, with temperature τ and an optional symmetric term."""

from __future__ import annotations

from typing import Any

from topobench.core.hookspecs import hookimpl
from topobench.core.losses import TORCH_INSTALL_HINT, Loss, check_temperature, info_nce


class InfoNCE(Loss):
    """InfoNCE (MultipleNegativesRankingLoss): each query against the batch's positives and hard negatives.

    Args:
        temperature: τ; the logits are cos / τ (0.05 = a scale of 20, sentence-transformers' default).
        symmetric: also score each positive against the batch's queries and average the two directions.

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm (rows are
    normalised inside, so the similarity is the cosine).

    Returns ``{"loss", "infonce"}``: ``loss`` to minimise, ``infonce`` the same value detached, for logging.

    References: van den Oord et al., "Representation Learning with Contrastive Predictive Coding" (2018);
    Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply" (2017), in-batch negatives.
    """

    requires = ("torch",)
    install_hint = TORCH_INSTALL_HINT

    def __init__(self, temperature: float = 0.05, symmetric: bool = False) -> None:
        self.temperature = check_temperature(temperature)
        self.symmetric = bool(symmetric)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        loss = info_nce(queries, positives, negatives, temperature=self.temperature, symmetric=self.symmetric)
        return {"loss": loss, "infonce": loss.detach()}


@hookimpl
def register_losses(register):
    register("infonce", InfoNCE)
