"""How a cell was obtained: the machine (CPU model, cores, GPU), library versions, the dataset's own provenance."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from typing import Any

from topobench.datasets.store import Dataset

PACKAGES = ("topobench", "numpy", "faiss-cpu", "hnswlib", "h5py", "torch", "transformers", "pyserini")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str | None:
    """The first CUDA device's name when torch sees one, else None (torch is not imported when absent)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_facts() -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cores": cores, "gpu": gpu_name(), "platform": platform.platform(),
            "python": platform.python_version()}


def versions() -> dict[str, str]:
    out = {}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def dataset_provenance(dataset: Dataset) -> dict[str, Any]:
    """The dataset's corpus files (with sha256), encoder id and revision, and the facts of this machine."""
    attrs = dataset.attrs
    try:
        files = json.loads(str(attrs.get("corpus_files", "[]")))
    except ValueError:
        files = []
    return {
        "corpus_files": files,
        "encoder_model_id": attrs.get("encoder_model_id"), "encoder_revision": attrs.get("encoder_revision"),
        "encoder_checkpoint_sha256": attrs.get("encoder_checkpoint_sha256"),
        "versions": versions(), "machine": machine_facts(),
    }
