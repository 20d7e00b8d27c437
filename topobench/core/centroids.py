"""Corpus cells for index-aware losses: k-means centroids of the corpus embeddings and soft cell assignments.

An IVF index splits the corpus into the cells of a k-means quantiser and searches a query's nearest cells only, so a
query lands where its relevant document is stored exactly when both fall in the same cell. The ``cell_assign`` and
``cell_balance`` loss plugins make that differentiable: a soft assignment of an embedding to the centroids,
``softmax_j(−‖x̂ − c_j‖² / τ_a)`` over unit vectors ``x̂``, as JPQ (Zhan et al., CIKM 2021) and RepCONC (Zhan et al.,
WSDM 2022) train against their quantisers.

:class:`CorpusCellLoss` is the base of those losses: the trainer hands it the corpus matrix the model miner has just
encoded (:meth:`~topobench.core.losses.Loss.corpus_embeddings`, no encoding of its own), it runs :func:`kmeans` on it
and keeps only the centroids (saved in the resume state). numpy and torch are imported where used, so importing this
module stays cheap, as for :mod:`topobench.core.losses`.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from topobench.core.losses import TORCH_INSTALL_HINT, Loss, check_temperature

logger = logging.getLogger(__name__)

_CHUNK = 65_536  # rows per block of the assignment step: a 2.6M-document corpus never builds an N × k matrix at once


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, in float64 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centroid by squared Euclidean distance (ties: the lower index), block by block."""
    squared = (centroids * centroids).sum(axis=1)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), _CHUNK):
        block = x[start:start + _CHUNK]
        # ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²; ‖x‖² is the same for every centroid of a row, so it is left out.
        out[start:start + _CHUNK] = np.argmin(squared[None, :] - 2.0 * block @ centroids.T, axis=1)
    return out


def kmeans(x: np.ndarray, k: int, iterations: int = 10, seed: int = 0) -> np.ndarray:
    """Spherical k-means of the rows of ``x`` (N × d, unit rows) into ``k`` unit centroids (k × d, float64),
    reproducibly: the quantiser the ``ivf`` index trains for cosine and inner product (faiss, ``spherical``).

    Initialised with ``k`` distinct rows drawn by ``numpy.random.default_rng(seed)``; each iteration assigns every row
    to its nearest centroid and moves each centroid to the normalised mean of its rows (sums accumulated in row order,
    so the result does not depend on threads). A centroid left without rows keeps its place (the corpus row it
    started from or its last mean). ``k`` above N is clipped to N.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"k-means needs a non-empty N × d matrix, got shape {x.shape}")
    if k < 1 or iterations < 0:
        raise ValueError(f"k-means needs k ≥ 1 and iterations ≥ 0, got k={k}, iterations={iterations}")
    k = min(int(k), len(x))
    centroids = x[np.sort(np.random.default_rng(seed).choice(len(x), size=k, replace=False))].copy()
    for _ in range(iterations):
        labels = nearest_centroid(x, centroids)
        order = np.argsort(labels, kind="stable")  # rows grouped by cell, in row order within a cell
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centroids)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums[counts > 0] = np.add.reduceat(x[order], starts[counts > 0], axis=0)
        filled = (counts > 0) & (np.linalg.norm(sums, axis=1) > 0)
        centroids[filled] = unit_rows(sums[filled])  # the mean's direction
    return centroids


def log_soft_assignment(x: Any, centroids: Any, temperature: float) -> Any:
    """log softmax_j(−‖x̂ − c_j‖² / τ_a): each row's log-probabilities over the cells, differentiable in ``x``.

    x: (m × d) torch tensor, any norm (rows are L2-normalised first); centroids: (k × d) tensor of the same dtype and
    device. Returns (m × k). On unit rows and unit centroids ‖x̂ − c‖² = 2 − 2 x̂·c, so τ_a = 0.1 is the same sharpness
    as a cosine softmax at temperature 0.05.
    """
    import torch
    import torch.nn.functional as F

    unit = F.normalize(x, p=2.0, dim=-1)
    square_dist = (unit * unit).sum(-1, keepdim=True) - 2.0 * unit @ centroids.T + (centroids * centroids).sum(-1)
    return torch.log_softmax(-square_dist / temperature, dim=-1)


class CorpusCellLoss(Loss):
    """The base of the losses that read k-means cells of the current corpus embeddings.

    Centroids are refreshed each time the trainer hands the loss the corpus matrix the model miner has just encoded
    (:meth:`corpus_embeddings`); until the first refresh — the in-batch and BM25 stages, where nothing encodes the
    corpus — :attr:`centroids` is None and a subclass leaves its cell term out (weight in effect 0, logged once). The
    alternative, centroids of the batch's own documents, was rejected: 32–64 documents make a handful of cells unlike
    the index's, and they would change every step.

    Args (shared by the subclasses):
        clusters: k, the number of cells (default 256: the nlist at which the studies measure IVF geometry).
        assign_temperature: τ_a of the soft assignment softmax(−‖x̂ − c‖² / τ_a).
        kmeans_iterations: Lloyd iterations per refresh (each refresh starts afresh from ``seed``).
        seed: the k-means initialisation seed (numpy's own generator: no draw from torch or the trainer).
    """

    requires = ("torch",)
    install_hint = TORCH_INSTALL_HINT
    uses_corpus_embeddings: ClassVar[bool] = True

    def __init__(self, clusters: int = 256, assign_temperature: float = 0.1, kmeans_iterations: int = 10,
                 seed: int = 0) -> None:
        self.clusters = int(clusters)
        if self.clusters < 2:
            raise ValueError(f"clusters must be ≥ 2 (one cell assigns everything alike), got {clusters!r}")
        self.assign_temperature = check_temperature(assign_temperature)
        self.kmeans_iterations = int(kmeans_iterations)
        if self.kmeans_iterations < 0:
            raise ValueError(f"kmeans_iterations must be ≥ 0, got {kmeans_iterations!r}")
        self.seed = int(seed)
        self.centroids: np.ndarray | None = None  # k × d, float64
        self.refreshes = 0
        self._on_device: dict[tuple[Any, Any], Any] = {}
        self._said_off = False

    def corpus_embeddings(self, embeddings: Any) -> None:
        """k-means of the unit corpus rows into ``clusters`` cells; only the centroids are kept."""
        x = unit_rows(embeddings)
        self.centroids = kmeans(x, self.clusters, self.kmeans_iterations, self.seed)
        self.refreshes += 1
        self._on_device.clear()
        counts = np.bincount(nearest_centroid(x, self.centroids), minlength=len(self.centroids))
        logger.info("%s: %d cells from %d corpus embeddings (refresh %d; largest cell %d, empty %d)",
                    type(self).__name__, len(self.centroids), len(x), self.refreshes, counts.max(),
                    int((counts == 0).sum()))

    def state_dict(self) -> dict[str, Any]:
        import torch

        if self.centroids is None:
            return {"refreshes": self.refreshes}
        return {"centroids": torch.from_numpy(self.centroids.copy()), "refreshes": self.refreshes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        centroids = state.get("centroids")
        self.centroids = None if centroids is None else np.asarray(centroids.numpy(), dtype=np.float64)
        self.refreshes = int(state.get("refreshes", 0))
        self._on_device.clear()

    def cells_ready(self) -> bool:
        """Whether centroids exist; logs once, the first time they do not, that the cell term is off."""
        if self.centroids is None and not self._said_off:
            logger.info("%s: no corpus centroids yet (no model-miner encoding so far): its cell term is off until "
                        "the model miner encodes the corpus", type(self).__name__)
            self._said_off = True
        return self.centroids is not None

    def log_assignment(self, x: Any) -> Any:
        """(m × d) embeddings → (m × k) log soft assignments to the current centroids (which must exist)."""
        import torch

        if self.centroids is None:
            raise RuntimeError("no centroids yet: the trainer hands them over after the model miner's encoding")
        if x.shape[-1] != self.centroids.shape[1]:
            raise ValueError(f"embeddings of dimension {x.shape[-1]} against centroids of dimension "
                             f"{self.centroids.shape[1]}: the corpus matrix came from another encoder")
        key = (x.device, x.dtype)
        if key not in self._on_device:
            self._on_device[key] = torch.as_tensor(self.centroids, dtype=x.dtype, device=x.device)
        return log_soft_assignment(x, self._on_device[key], self.assign_temperature)

    def cell_cross_entropy(self, queries: Any, positives: Any, detach_target: bool = True) -> Any:
        """mean_i H(a(d_i⁺), a(q_i)) = −mean_i Σ_j a_j(d_i⁺) log a_j(q_i): the positive's assignment is the target
        distribution (detached: the query is pulled into the cell where the index stores its document)."""
        log_q = self.log_assignment(queries)  # B × k
        target = self.log_assignment(positives).exp()  # B × k
        if detach_target:
            target = target.detach()
        return -(target * log_q).sum(dim=-1).mean()
