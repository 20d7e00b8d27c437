"""The loss interface for training bi-encoders. Concrete losses arrive with the training work."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from topobench.component import Component


class Loss(Component, ABC):
    """A training objective over query, positive and negative embeddings.

    ``__call__`` returns a dict of named scalar components; the key ``"loss"`` is the value to minimise and the others
    are logged by the trainer (for the topology loss: ``infonce`` and ``topology``).
    """

    @abstractmethod
    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        """queries (B × d), positives (B × d), negatives (B × n × d) or None → {"loss": scalar, ...components}."""
