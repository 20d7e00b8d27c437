"""What a plugin declares about a metric of its own: :class:`MetricSpec`, registered through ``register_metrics``.

The metric layer (``topobench/metrics/``) turns each spec into a full metric, so a plugin needs only this module (the
core layer) to make its index's own counter plotted, exported, reported and studied like ``distcomps``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from topobench.core.errors import PluginError


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin adds.

    Args:
        description: the axis label, with the unit ("Bucket collisions per query").
        counter: the key of the index's ``stats()`` this metric reads (per query: the runner divides the index's
            totals by the number of queries). Give this or ``compute``.
        compute: ``compute(scoring) -> float | None`` for anything else (``scoring`` is a
            ``topobench.metrics.scoring.Scoring``: the result, the dataset and per-query helpers).
        direction: ``"lower"`` (a cost, the default) or ``"higher"`` is better; frontiers and summaries follow it.
        scale: axis hint, ``"linear"`` or ``"log"``.
    """

    description: str
    counter: str | None = None
    compute: Callable[[Any], float | None] | None = None
    direction: str = "lower"
    scale: str = "linear"

    def __post_init__(self) -> None:
        if (self.counter is None) == (self.compute is None):
            raise PluginError(f"metric {self.description!r}: give exactly one of counter= or compute=")
        if self.direction not in ("higher", "lower") or self.scale not in ("linear", "log"):
            raise PluginError(f"metric {self.description!r}: direction must be higher|lower and scale linear|log")
