"""``flat``: exact search with faiss's IndexFlat, the recall-1 reference every other index is measured against.

Build args: none. Query args: none. Angular searches unit vectors by inner product, euclidean by L2 (see
``_faiss_common``). Counter: ``distcomps`` = n per query, since every stored vector is compared with the query.
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


class FaissFlat(common.ExhaustiveFaissIndex):
    """Exact brute-force search (faiss IndexFlatIP / IndexFlatL2)."""

    def __init__(self, metric: str) -> None:
        super().__init__(metric)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        index = faiss.IndexFlat(X.shape[1], self.faiss_metric())
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("flat", FaissFlat)
