"""cell_assign: InfoNCE plus weight · the cross-entropy between the positive's and the query's soft IVF cells."""

from __future__ import annotations

from typing import Any

from topobench.core.centroids import CorpusCellLoss
from topobench.core.hookspecs import hookimpl
from topobench.core.losses import check_temperature, info_nce


class CellAssignLoss(CorpusCellLoss):
    """InfoNCE + weight · mean_i H(a(d_i⁺), a(q_i)): pull each query into the IVF cell of its positive.

    An IVF index finds d⁺ for q only if q probes d⁺'s cell; the topology term pulls q towards d⁺ in every direction,
    this one only across cell borders. a(x) = softmax_j(−‖x̂ − c_j‖² / τ_a) is the soft assignment of the unit vector x̂
    to the spherical k-means centroids c_j of the current corpus embeddings (the ``ivf`` index's quantiser), refreshed
    each time the model miner encodes the corpus (the trainer hands the loss that matrix: no encoding of its own; see
    :mod:`topobench.core.centroids`).

    The term is the cross-entropy −Σ_j a_j(d⁺) log a_j(q), the positive's assignment the target distribution. The
    target is detached by default: the document's cell is where the index stores it, and the term asks the query to
    land there (JPQ trains the query side against fixed document assignments); a live target adds the document's own
    assignment entropy H(a(d⁺)) to the objective — a compactness term whose weight would be tied to this one.

    Before the first refresh (the in-batch and BM25 stages: nothing has encoded the corpus) the loss is exactly
    InfoNCE, the weight in effect 0 (logged as ``w``, and once as a log line): batch-only centroids were rejected as
    cells unlike the index's (see :class:`~topobench.core.centroids.CorpusCellLoss`).

    Args:
        weight: the cell term's weight (≥ 0) once centroids exist.
        temperature: τ of the InfoNCE term; the logits are cos / τ.
        assign_temperature: τ_a of the soft assignment (smaller: closer to the hard IVF assignment, sparser gradient).
        clusters: k, the number of cells (256: the nlist of the studies' IVF geometry; clipped to the corpus size).
        kmeans_iterations: Lloyd iterations per refresh.
        seed: k-means initialisation seed (numpy's own generator; no draw from torch or the trainer).
        detach_target: stop the gradient through the positive's assignment (see above).

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm. The hard
    negatives enter InfoNCE only.

    Returns ``{"loss", "infonce", "cell", "w"}``: ``loss`` = infonce + w · cell, to minimise; ``infonce`` and ``cell``
    (the unweighted cross-entropy, 0.0 while the term is off) detached; ``w`` the weight in effect.

    References: Zhan et al., "Jointly Optimizing Query Encoder and Product Quantization to Improve Retrieval
    Performance" (JPQ, CIKM 2021); Zhan et al., "Learning Discrete Representations via Constrained Clustering for
    Effective and Efficient Dense Retrieval" (RepCONC, WSDM 2022); van den Oord et al. (2018) for InfoNCE.
    """

    def __init__(self, weight: float = 0.2, temperature: float = 0.05, assign_temperature: float = 0.1,
                 clusters: int = 256, kmeans_iterations: int = 10, seed: int = 0, detach_target: bool = True) -> None:
        super().__init__(clusters, assign_temperature, kmeans_iterations, seed)
        self.weight = float(weight)
        if not self.weight >= 0.0:  # also rejects NaN
            raise ValueError(f"weight must be >= 0, got {weight!r}")
        self.temperature = check_temperature(temperature)
        self.detach_target = bool(detach_target)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        contrastive = info_nce(queries, positives, negatives, temperature=self.temperature)  # scalar
        if not self.cells_ready() or self.weight == 0.0:
            return {"loss": contrastive, "infonce": contrastive.detach(), "cell": 0.0, "w": 0.0}
        cell = self.cell_cross_entropy(queries, positives, self.detach_target)  # scalar: mean over B of Σ over k
        return {"loss": contrastive + self.weight * cell, "infonce": contrastive.detach(), "cell": cell.detach(),
                "w": self.weight}


@hookimpl
def register_losses(register):
    register("cell_assign", CellAssignLoss)


@hookimpl
def register_recipes(register):
    # The common curriculum; the weight chosen on the dev split (docs/STUDIES.md, "index-aware"; the sweep's record:
    # studies/index-aware/dev-sweep-cell_assign-fast.json).
    register("cell_assign", {"loss": "cell_assign", "loss_args": {"temperature": 0.05, "weight": 0.5}})
