"""The hard-negative miner interface. Concrete miners arrive with the training work."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from topobench.component import Component


class Miner(Component, ABC):
    """Picks hard negatives for training queries.

    Capabilities (class attributes): ``refreshes`` is True for miners whose negatives depend on the current weights.
    """

    refreshes: bool = False

    @abstractmethod
    def mine(self, query_ids: Sequence[str], positives: dict[str, set[str]], k: int) -> dict[str, list[str]]:
        """Return up to ``k`` negative document ids per query id, never one of that query's positives."""
