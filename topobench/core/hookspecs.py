"""The hooks a topobench plugin implements. Each one only *registers* things.

A plugin is a module (a file under ``plugins/``, or a package exposing the entry point group ``topobench``) that defines
one or more of the functions below decorated with ``@hookimpl``. The core calls each hook once, at start-up, with a
``register`` callback; the plugin calls ``register(name, cls)`` for everything it provides. Plugins never touch core
structures directly, so the core can check names (duplicates, typos) and report what each plugin registered.

Heavy libraries must be imported lazily (inside methods), so that registering is cheap and a plugin whose library is
missing is listed as unavailable instead of breaking the others. See ``tests/plugins/toy.py`` for a complete example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "topobench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[str, type], Any]


@hookspec
def register_indexes(register: Register) -> None:
    """Register ANN index classes: ``register("hnsw", FaissHNSW)``.

    Called once when the plugin manager loads. ``register(name, cls)`` takes the algorithm name used in ``algos.yaml``
    and on the command line (``--algorithm``) and a subclass of :class:`topobench.core.indexes.Index`.
    """


@hookspec
def register_encoders(register: Register) -> None:
    """Register text encoders: ``register("minilm", MiniLM)``.

    Called once when the plugin manager loads. ``cls`` subclasses :class:`topobench.core.encoders.Encoder`; the name is
    the
    ``<encoder>`` part of dataset names such as ``scifact-minilm``.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register training losses: ``register("infonce", InfoNCE)``.

    Called once when the plugin manager loads. ``cls`` subclasses :class:`topobench.core.losses.Loss`.
    """


@hookspec
def register_miners(register: Register) -> None:
    """Register hard-negative miners: ``register("bm25", BM25Miner)``.

    Called once when the plugin manager loads. ``cls`` subclasses :class:`topobench.core.miners.Miner`.
    """


@hookspec
def register_recipes(register: Register) -> None:
    """Register training recipes: ``register("mine", {"loss": "my_loss", "loss_args": {"alpha": 2.0}})``.

    Called once when the plugin manager loads. The value is a dict of
    :class:`~topobench.training.config.TrainConfig` fields (corpus and encoder excluded) applied over the common
    curriculum (``topobench.training.recipes.COMMON``), so ``scifact-minilm-mine`` names a dataset trained with it,
    with ``@key=value`` overrides as for the built-in recipes, and a study's ``variants:`` can list it.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: ``register("collisions", MetricSpec("Bucket collisions per query", counter="collisions"))``.

    Called once when the plugin manager loads. The value is a :class:`topobench.core.metric_spec.MetricSpec`; most
    name a per-query counter the plugin's index reports in ``stats()`` (listed in its ``stats_names``). Plots
    (``-x``/``-y``), the CSV export, the HTML report and study cells treat it as a built-in metric.
    """
