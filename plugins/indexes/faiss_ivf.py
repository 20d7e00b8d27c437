"""``ivf``: faiss's IndexIVFFlat, k-means inverted lists of full vectors; a query scans its ``nprobe`` nearest lists.

Build args: ``(nlist,)``, clamped to the corpus size (faiss's k-means throws when nlist > n). Query args:
``(nprobe,)``, clamped to nlist; ``nprobe == nlist`` is exact search. With few probes a query can find fewer than k
vectors: the faiss -1 padding never reaches the runner as an id. Counters: ``distcomps`` (vectors scanned + nlist
centroid distances per query) and ``lists_probed``, from ``faiss.cvar.indexIVF_stats``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from topobench.hookspecs import hookimpl


def load_common() -> ModuleType:
    """Import ``_faiss_common.py`` from beside this file, once, under a stable name.

    Plugin files are loaded by path, not as a package, so a relative import cannot work; loading by path (and caching in
    ``sys.modules``) keeps one copy of the shared base classes for every faiss plugin, without touching ``sys.path``.
    """
    name = "topobench_plugins_indexes_faiss_common"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("_faiss_common.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


common = load_common()


class FaissIVF(common.FaissIVFIndex):
    """Inverted file over k-means cells with uncompressed vectors (faiss IndexIVFFlat)."""

    def __init__(self, metric: str, nlist: int) -> None:
        super().__init__(metric, nlist)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        n, d = X.shape
        index = faiss.IndexIVFFlat(self.quantizer(d), d, self.nlist, self.faiss_metric())
        common.quiet_kmeans(index.cp, "ivf", n, self.nlist)
        index.train(X)
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("ivf", FaissIVF)
