"""Training losses for bi-encoders: the :class:`Loss` interface and the contrastive functions the plugins build on.

The functions take torch tensors but import torch only when called, so importing this module (which the plugin
registry does at start-up, through every loss plugin) stays cheap and works without torch installed.

Shapes: ``queries`` (B × d), ``positives`` (B × d), where row i of ``positives`` is query i's relevant document, and
optional hard ``negatives`` (B × n × d). Rows may have any length: they are L2-normalised here, so every score is a
cosine similarity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from topobench.core.component import Component

TORCH_INSTALL_HINT = "pip install torch==2.13.0"


class Loss(Component, ABC):
    """A training objective over query, positive and negative embeddings.

    ``__call__`` returns a dict of named scalar components. The key ``"loss"`` is the scalar tensor to minimise (it
    carries the autograd graph); every other key is a component the trainer logs (for the topology loss: ``infonce``
    and ``topology``). Components are floats or detached 0-d tensors, so logging them with ``float()`` keeps no autograd
    graph alive.

    The trainer back-propagates ``"loss"``, so it must be computed with torch from the tensors passed in; a loss sets
    ``requires = ("torch",)`` and ``install_hint = TORCH_INSTALL_HINT`` and imports torch inside its methods.
    :func:`check_loss` tries a loss on a small batch before any training starts.
    """

    @abstractmethod
    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        """queries (B × d), positives (B × d), negatives (B × n × d) or None → {"loss": scalar, ...components}."""

    def set_progress(self, stage: int, step: int, total_steps: int) -> None:
        """Told by the trainer before every optimiser step: the curriculum stage (0-based), the global step (0-based)
        and the run's total steps, for losses whose weights follow a schedule. Default: ignored."""

    #: True for a loss that reads the corpus embeddings (index-aware losses: k-means cells of the corpus). The trainer
    #: then hands it, through :meth:`corpus_embeddings`, the matrix a model miner has just encoded — never an
    #: encoding of its own — and keeps :meth:`state_dict` in the resume state.
    uses_corpus_embeddings: ClassVar[bool] = False

    def corpus_embeddings(self, embeddings: Any) -> None:
        """Told by the trainer after each mining that encoded the corpus with the current weights (a model miner's
        stage start and re-minings): the corpus matrix (N × d numpy array, rows in the corpus order). Read only when
        ``uses_corpus_embeddings``; keep what is needed (centroids), not the matrix. Default: ignored."""

    def state_dict(self) -> dict[str, Any]:
        """What the loss learnt from the run so far (e.g. centroids), saved in the trainer's resume state so a
        resumed run computes the same loss as an uninterrupted one. Default: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned. Default: nothing to restore."""


def check_loss(loss: Any, name: str) -> None:
    """Call ``loss`` on a small random batch (4 queries, positives and 2 hard negatives each, 8-d) the way the trainer
    will, and raise a ``ConfigError`` naming the loss and the fix when it cannot train a model: it fails, returns
    something other than a dict with ``"loss"``, or its ``"loss"`` is not a finite scalar torch tensor that depends on
    the embeddings."""
    import torch

    from topobench.core.errors import ConfigError

    generator = torch.Generator().manual_seed(0)
    q, p = (torch.randn(4, 8, generator=generator, requires_grad=True) for _ in range(2))
    n = torch.randn(4, 2, 8, generator=generator, requires_grad=True)
    contract = ("a loss is called as loss(queries (B × d), positives (B × d), negatives (B × n × d) or None) on torch "
                "tensors and returns {'loss': scalar tensor, ...components}")
    try:
        out = loss(q, p, n)
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin's code is reported as one line
        raise ConfigError(f"loss {name!r} fails on a 4-example batch ({type(exc).__name__}: {exc}); "
                          f"{contract}") from None
    value = out.get("loss") if isinstance(out, dict) else None
    if value is None:
        raise ConfigError(f"loss {name!r} returned {type(out).__name__} without a 'loss' entry; {contract}")
    if not isinstance(value, torch.Tensor):
        raise ConfigError(f"loss {name!r} returned 'loss' as {type(value).__name__}, not a torch tensor: compute it "
                          "with torch from the tensors passed in (numpy breaks the gradient)")
    if value.dim() != 0:
        raise ConfigError(f"loss {name!r} returned 'loss' of shape {tuple(value.shape)}: reduce it to a scalar "
                          "(e.g. .mean() over the batch)")
    if not value.requires_grad:
        raise ConfigError(f"loss {name!r} returned a 'loss' that does not depend on the embeddings (no gradient): "
                          "compute it from the tensors passed in, without .detach(), .item() or torch.no_grad()")
    if not bool(torch.isfinite(value)):
        raise ConfigError(f"loss {name!r} returned a non-finite 'loss' ({float(value)}) on a random batch")


def check_temperature(temperature: float) -> float:
    """The temperature as a float, or a ValueError when it is not a positive number (logits are cos / τ)."""
    value = float(temperature)
    if not value > 0.0:  # also rejects NaN
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    return value


def _check_shapes(queries: Any, positives: Any, negatives: Any | None) -> None:
    """Raise a ValueError naming the first shape that does not fit (B × d), (B × d), (B × n × d)."""
    if queries.dim() != 2:
        raise ValueError(f"queries must be 2-d (B × d), got shape {tuple(queries.shape)}")
    if positives.dim() != 2:
        raise ValueError(f"positives must be 2-d (B × d), got shape {tuple(positives.shape)}")
    (batch, dim), (p_batch, p_dim) = queries.shape, positives.shape
    if p_batch != batch:
        raise ValueError(f"queries and positives must have the same batch size B, got {batch} and {p_batch}")
    if p_dim != dim:
        raise ValueError(f"queries and positives must have the same dimension d, got {dim} and {p_dim}")
    if negatives is None:
        return
    if negatives.dim() != 3:
        raise ValueError(f"negatives must be 3-d (B × n × d), got shape {tuple(negatives.shape)}")
    if negatives.shape[0] != batch:
        raise ValueError(f"negatives must have the queries' batch size B={batch}, got shape {tuple(negatives.shape)}")
    if negatives.shape[2] != dim:
        raise ValueError(f"negatives must have the queries' dimension d={dim}, got shape {tuple(negatives.shape)}")


def _unit_rows(x: Any) -> Any:
    """L2-normalise along the last axis (zero rows stay zero instead of dividing by zero)."""
    import torch.nn.functional as F

    return F.normalize(x, p=2.0, dim=-1)


def positive_cosine(queries: Any, positives: Any) -> Any:
    """cos(q_i, d_i⁺) for each row: a (B,) tensor, differentiable. The topology term is ``mean(1 − this)``."""
    import torch

    queries, positives = torch.as_tensor(queries), torch.as_tensor(positives)
    _check_shapes(queries, positives, None)
    return (_unit_rows(queries) * _unit_rows(positives)).sum(dim=-1)


def info_nce(queries: Any, positives: Any, negatives: Any | None = None, temperature: float = 0.05,
             symmetric: bool = False) -> Any:
    """InfoNCE with in-batch and hard negatives: a scalar tensor, the mean over the batch.

    Query i is scored against the same candidates as every other query, as sentence-transformers'
    MultipleNegativesRankingLoss does: the B positives of the batch (its own at column i, the others as in-batch
    negatives), then all B·n hard negatives of the batch flattened (query i's own and the other queries'). The logits
    are cos / ``temperature`` and the loss is the cross-entropy with target i.

    ``symmetric=True`` adds the document → query direction (each positive d_i against the B queries, target i) and
    returns the average of the two directions, as MultipleNegativesSymmetricRankingLoss does; hard negatives enter only
    the query → document term, since they have no query of their own.
    """
    import torch
    import torch.nn.functional as F

    tau = check_temperature(temperature)
    queries, positives = torch.as_tensor(queries), torch.as_tensor(positives)
    negatives = None if negatives is None else torch.as_tensor(negatives)
    _check_shapes(queries, positives, negatives)
    q, p = _unit_rows(queries), _unit_rows(positives)
    candidates = p if negatives is None else torch.cat([p, _unit_rows(negatives).reshape(-1, p.shape[1])])
    logits = q @ candidates.T / tau  # (B × (B + B·n))
    target = torch.arange(q.shape[0], device=q.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        backward = F.cross_entropy(logits[:, : q.shape[0]].T, target)  # (B × B): positive i against every query
        loss = (loss + backward) / 2
    return loss
