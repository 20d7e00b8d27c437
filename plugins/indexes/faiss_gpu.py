"""``gpu_flat``, ``gpu_ivf``, ``gpu_ivf_pq``, ``gpu_cagra``: faiss's GPU indexes (GpuIndexFlat, GpuIndexIVFFlat,
GpuIndexIVFPQ, and cuVS's CAGRA graph through GpuIndexCagra) on the first CUDA device, as algorithms of their own beside
the CPU ones.

They need a faiss build with GPU support (the ``gpu`` extra: ``pip uninstall faiss-cpu; pip install -e '.[gpu]'``)
and a visible CUDA device; otherwise ``run.py --list`` shows them unavailable with the reason. The index is created on
the CPU and moved to the GPU (``index_cpu_to_gpu``) before training, so k-means and the adds run on the GPU; queries
are sent one at a time in single-query mode (latency includes the host-device copies, as a user's call would) and
all at once with ``--batch``. Build args as the CPU counterparts: ``gpu_ivf`` ``(nlist,)``, ``gpu_ivf_pq``
``(nlist, m)`` (m sub-quantizers of 8 bits, vectors zero-padded as ``ivf_pq`` when m does not divide d; the
dimensions per sub-quantizer must be a size faiss's GPU PQ supports: 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32);
query args ``(nprobe,)``, clamped to nlist (GPU faiss caps nprobe at 2048). The
GPU indexes report no per-query counters (faiss's IVF statistics are CPU-side) and are not saved
(``--save-index``). Units of these algorithms ask the Ray executor for ``num_gpus=1`` (``gpus = 1``).

``gpu_cagra`` needs a faiss built with cuVS (the ``gpu`` extra's ``faiss-gpu-cuvs``). Build args ``(graph_degree,
intermediate_graph_degree[, build_algo])``: the kNN graph is built with ``intermediate_graph_degree`` neighbours per
vector (by NN-descent, the default, or cuVS's IVF-PQ: ``"nn_descent"`` / ``"ivf_pq"``) and pruned to ``graph_degree``
(both clamped below the corpus size). Query args ``(itopk_size[, search_width])``: the internal top-k list CAGRA keeps
while walking the graph (its recall/speed knob, as efSearch is HNSW's; raised to ``k`` when smaller, since CAGRA cannot
return more results than it keeps) and the graph nodes expanded per iteration (default 1); they travel as faiss
``SearchParametersCagra`` with every search. Angular data is ranked by L2 between unit vectors. Its size is what the
GPU holds: the pruned graph (4-byte ids) and the float32 vectors it searches over.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl

GPU_INSTALL_HINT = "pip uninstall faiss-cpu && pip install -e '.[gpu]' (faiss-gpu-cuvs: CUDA 13, a driver >= 580)"
BUILD_ALGOS = ("nn_descent", "ivf_pq")
MAX_GPU_NPROBE = 2048


class FaissGPUIndex(common.FaissIndex):
    """A faiss index that lives on the first CUDA device."""

    install_hint: ClassVar[str] = GPU_INSTALL_HINT
    can_save: ClassVar[bool] = False
    gpus: ClassVar[int] = 1

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        faiss = common.import_faiss()
        if not hasattr(faiss, "StandardGpuResources"):
            return f"the installed faiss has no GPU support; install with {GPU_INSTALL_HINT}"
        if faiss.get_num_gpus() < 1:
            return "faiss sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
        return None

    def cpu_index(self, d: int, n: int) -> Any:
        """The untrained CPU index (over ``n`` vectors of dimension ``d``) that ``build`` moves to the GPU. Every index
        built that way gives one; an index built on the GPU directly (CAGRA) overrides ``build`` instead."""
        raise NotImplementedError(f"{type(self).__name__} gives neither cpu_index nor its own build")

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        self.resources = faiss.StandardGpuResources()
        index = faiss.index_cpu_to_gpu(self.resources, 0, self.cpu_index(X.shape[1], len(X)))
        if not index.is_trained:
            index.train(X)
        index.add(X)
        return index

    def index_size(self) -> int | None:
        if self.index is None:
            return None
        faiss = common.import_faiss()
        return int(faiss.serialize_index(faiss.index_gpu_to_cpu(self.index)).nbytes)


class GpuFlat(FaissGPUIndex):
    """Exact search on the GPU (GpuIndexFlat)."""

    def __init__(self, metric: str) -> None:
        super().__init__(metric)

    def cpu_index(self, d: int, n: int) -> Any:
        faiss = common.import_faiss()
        return faiss.IndexFlat(d, self.faiss_metric())


class GpuIVFBase(FaissGPUIndex):
    """Inverted lists on the GPU: build args start with ``nlist``, query args ``(nprobe,)``."""

    arg_ranges: ClassVar[dict] = {"nlist": (1, 1 << 20)}
    query_arg_ranges: ClassVar[dict] = {"nprobe": (1, 1 << 20)}

    def __init__(self, metric: str, nlist: int, *args: Any) -> None:
        super().__init__(metric, nlist, *args)
        self.nlist = int(nlist)
        self.nprobe = 1

    def lists(self, n: int) -> int:
        """nlist clamped to the corpus size (faiss's k-means throws when nlist > n)."""
        self.nlist = common.clamp_lists(type(self).__name__, self.nlist, n)
        return self.nlist

    def set_query_arguments(self, nprobe: int) -> None:
        super().set_query_arguments(nprobe)
        self.nprobe = max(1, min(int(nprobe), self.nlist, MAX_GPU_NPROBE))
        if self.index is not None:
            self.after_load()

    def fit(self, X: np.ndarray) -> None:
        super().fit(X)
        self.after_load()

    def after_load(self) -> None:
        common.import_faiss().GpuParameterSpace().set_index_parameter(self.index, "nprobe", self.nprobe)


class GpuIVF(GpuIVFBase):
    """Inverted lists of full vectors on the GPU (GpuIndexIVFFlat); query arg nprobe."""

    def __init__(self, metric: str, nlist: int) -> None:
        super().__init__(metric, nlist)

    def cpu_index(self, d: int, n: int) -> Any:
        faiss = common.import_faiss()
        return faiss.IndexIVFFlat(faiss.IndexFlat(d, self.faiss_metric()), d, self.lists(n), self.faiss_metric())


class GpuIVFPQ(GpuIVFBase):
    """Inverted lists of PQ codes on the GPU (GpuIndexIVFPQ, 8-bit sub-quantizers, no re-ranking)."""

    angular_by_l2: ClassVar[bool] = True
    arg_ranges: ClassVar[dict] = {"nlist": (1, 1 << 20), "m": (1, 4096)}

    def __init__(self, metric: str, nlist: int, m: int) -> None:
        super().__init__(metric, nlist, m)
        self.m = int(m)

    def cpu_index(self, d: int, n: int) -> Any:
        faiss = common.import_faiss()
        m, padded, transform = common.pad_for_subquantizers("gpu_ivf_pq", d, self.m)  # as ivf_pq: zero-padded
        nbits = common.clamp_bits("gpu_ivf_pq", 8, n)
        ivf = faiss.IndexIVFPQ(faiss.IndexFlat(padded, self.faiss_metric()), padded, self.lists(n), m, nbits,
                               self.faiss_metric())
        return common.with_transform(transform, ivf)


class GpuCagra(FaissGPUIndex):
    """CAGRA graph on the first CUDA device (faiss GpuIndexCagra)."""

    angular_by_l2: ClassVar[bool] = True
    arg_ranges: ClassVar[dict] = {"graph_degree": (1, 1024), "intermediate_graph_degree": (1, 2048)}
    query_arg_ranges: ClassVar[dict] = {"itopk_size": (1, 4096), "search_width": (1, 1024)}

    def __init__(self, metric: str, graph_degree: int, intermediate_graph_degree: int,
                 build_algo: str = "nn_descent") -> None:
        super().__init__(metric, graph_degree, intermediate_graph_degree, build_algo)
        if build_algo not in BUILD_ALGOS:
            raise ValueError(f"gpu_cagra: build_algo must be one of {', '.join(BUILD_ALGOS)}, got {build_algo!r}")
        if graph_degree < 1 or intermediate_graph_degree < graph_degree:
            raise ValueError("gpu_cagra: need 1 <= graph_degree <= intermediate_graph_degree, got "
                             f"{graph_degree} and {intermediate_graph_degree}")
        self.graph_degree = int(graph_degree)
        self.intermediate_graph_degree = int(intermediate_graph_degree)
        self.build_algo = build_algo
        self.itopk_size = 64
        self.search_width = 1
        self.dim = 0

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        if not hasattr(common.import_faiss(), "GpuIndexCagra"):
            return f"the installed faiss has no cuVS (no GpuIndexCagra); install with {GPU_INSTALL_HINT}"
        return None

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        n, self.dim = X.shape
        config = faiss.GpuIndexCagraConfig()
        config.intermediate_graph_degree = max(1, min(self.intermediate_graph_degree, n - 1))
        config.graph_degree = max(1, min(self.graph_degree, config.intermediate_graph_degree))
        config.build_algo = (faiss.graph_build_algo_NN_DESCENT if self.build_algo == "nn_descent"
                             else faiss.graph_build_algo_IVF_PQ)
        self.graph_degree = int(config.graph_degree)
        self.resources = faiss.StandardGpuResources()
        index = faiss.GpuIndexCagra(self.resources, self.dim, self.faiss_metric(), config)
        index.train(X)  # CAGRA's train builds the graph over the whole base set
        return index

    def set_query_arguments(self, itopk_size: int, search_width: int = 1) -> None:
        super().set_query_arguments(itopk_size, search_width)
        self.itopk_size = max(1, int(itopk_size))
        self.search_width = max(1, int(search_width))

    def search_function(self, k: int) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
        params = common.import_faiss().SearchParametersCagra()
        params.itopk_size = max(self.itopk_size, k)
        params.search_width = self.search_width
        return functools.partial(self.index.search, params=params)

    def index_size(self) -> int | None:
        if self.index is None:
            return None
        return int(self.n * (self.graph_degree * 4 + self.dim * 4))


@hookimpl
def register_indexes(register):
    register("gpu_flat", GpuFlat)
    register("gpu_ivf", GpuIVF)
    register("gpu_ivf_pq", GpuIVFPQ)
    register("gpu_cagra", GpuCagra)
