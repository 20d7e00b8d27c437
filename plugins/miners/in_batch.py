"""``in_batch``: no mined negatives; every query trains on the other examples of its batch only.

The baseline of the miner axis: the contrastive loss already treats each batch's other positives as negatives, so this
miner returns no pools (an empty result means "in-batch negatives only", see :meth:`topobench.core.miners.Miner.mine`).
"""

from __future__ import annotations

from typing import Any

from topobench.core.hookspecs import hookimpl
from topobench.core.miners import Miner, MiningData


class InBatchMiner(Miner):
    """No extra negatives: each query trains on in-batch negatives only."""

    def mine(self, data: MiningData, encoder: Any | None = None) -> dict[str, list[str]]:
        return {}


@hookimpl
def register_miners(register) -> None:
    register("in_batch", InBatchMiner)
