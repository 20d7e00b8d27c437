"""cell_balance: the topology loss plus a RepCONC-style uniform-cell constraint on the batch's documents."""

from __future__ import annotations

from typing import Any

from topobench.core.centroids import CorpusCellLoss
from topobench.core.hookspecs import hookimpl
from topobench.core.losses import check_temperature, info_nce, positive_cosine

ALIGNMENTS = ("cosine", "cell")


class CellBalanceLoss(CorpusCellLoss):
    """InfoNCE + weight · alignment + balance · KL(ā ‖ uniform): align, but keep the IVF cells evenly filled.

    Alignment can collapse the corpus into few regions; an IVF index then holds most documents in a few long lists
    and a probe costs more (the ``ivf_imbalance`` geometry statistic, nlist·Σc²/(Σc)²). RepCONC's uniform clustering
    constraint counters that: ā = mean over the batch's documents of their soft assignments a(x) =
    softmax_j(−‖x̂ − c_j‖² / τ_a) to the k-means centroids of the current corpus embeddings, and the term
    KL(ā ‖ U) = Σ_j ā_j log(k ā_j) = log k − H(ā) ≥ 0, zero when the batch fills every cell alike. The documents
    (positives and hard negatives) are what fill the lists, so the queries are left out of ā.

    The alignment term is the topology loss's mean(1 − cos(q, d⁺)) by default (so that before any centroid exists
    this loss is exactly ``topology`` at the same weight, operation for operation), or with ``alignment=cell`` the
    ``cell_assign`` cross-entropy mean_i H(a(d_i⁺), a(q_i)) (target detached). Centroids are refreshed each time the
    model miner encodes the corpus (no encoding of its own); before the first refresh the balance term (and a cell
    alignment) is off, logged once and as ``balance_w`` = 0 (see :class:`~topobench.core.centroids.CorpusCellLoss`).

    Args:
        weight: w ≥ 0, the alignment term's weight (0.6: the ``topo`` recipe's).
        balance: β ≥ 0, the uniform-cell term's weight once centroids exist.
        alignment: ``cosine`` (topology's 1 − cos) or ``cell`` (cell_assign's cross-entropy).
        temperature: τ of the InfoNCE term.
        assign_temperature: τ_a of the soft assignment.
        clusters: k, the number of cells (256: the nlist of the studies' IVF geometry; clipped to the corpus size).
        kmeans_iterations: Lloyd iterations per refresh.
        seed: k-means initialisation seed.

    Inputs: ``queries`` (B × d), ``positives`` (B × d), ``negatives`` (B × n × d) or None; any norm. ā is the mean
    over the B + B·n document rows.

    Returns ``{"loss", "infonce", "alignment", "balance", "w", "balance_w"}``: ``loss`` to minimise; the unweighted
    terms detached (``balance`` 0.0 while off); ``w`` and ``balance_w`` the weights in effect.

    References: Zhan et al., "Learning Discrete Representations via Constrained Clustering for Effective and
    Efficient Dense Retrieval" (RepCONC, WSDM 2022), the uniform clustering constraint; Wang & Isola (ICML 2020) for
    the alignment term; van den Oord et al. (2018) for InfoNCE.
    """

    def __init__(self, weight: float = 0.6, balance: float = 0.1, alignment: str = "cosine",
                 temperature: float = 0.05, assign_temperature: float = 0.1, clusters: int = 256,
                 kmeans_iterations: int = 10, seed: int = 0) -> None:
        super().__init__(clusters, assign_temperature, kmeans_iterations, seed)
        self.weight, self.balance = float(weight), float(balance)
        if not (self.weight >= 0.0 and self.balance >= 0.0):  # also rejects NaN
            raise ValueError(f"weight and balance must be >= 0, got weight={weight!r}, balance={balance!r}")
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
        self.alignment = alignment
        self.temperature = check_temperature(temperature)

    def balance_term(self, positives: Any, negatives: Any | None) -> Any:
        """KL(ā ‖ U) over the batch's documents: a scalar ≥ 0."""
        import torch

        docs = positives if negatives is None else torch.cat([positives, negatives.reshape(-1, positives.shape[-1])])
        mean = self.log_assignment(docs).exp().mean(dim=0)  # k: the batch's mean soft assignment ā
        return torch.special.xlogy(mean, mean * len(mean)).sum()  # Σ ā_j log(k ā_j)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        contrastive = info_nce(queries, positives, negatives, temperature=self.temperature)  # scalar
        ready = self.cells_ready()
        out: dict[str, Any] = {"infonce": contrastive.detach()}
        if self.alignment == "cosine":
            alignment = (1.0 - positive_cosine(queries, positives)).mean()  # as topology computes it
            loss = contrastive + self.weight * alignment
            out.update(alignment=alignment.detach(), w=self.weight)
        elif ready:
            alignment = self.cell_cross_entropy(queries, positives)
            loss = contrastive + self.weight * alignment
            out.update(alignment=alignment.detach(), w=self.weight)
        else:
            loss = contrastive
            out.update(alignment=0.0, w=0.0)
        if ready and self.balance > 0.0:
            balance = self.balance_term(positives, negatives)
            loss = loss + self.balance * balance
            out.update(balance=balance.detach(), balance_w=self.balance)
        else:
            out.update(balance=0.0, balance_w=0.0)
        return {"loss": loss, **out}


@hookimpl
def register_losses(register):
    register("cell_balance", CellBalanceLoss)


@hookimpl
def register_recipes(register):
    # topo's weight and temperature; β chosen on the dev split (docs/STUDIES.md, "index-aware"; the sweep's record:
    # studies/index-aware/dev-sweep-cell_balance-fast.json).
    register("cell_balance", {"loss": "cell_balance",
                              "loss_args": {"temperature": 0.05, "weight": 0.6, "balance": 0.03}})

