"""Facts about the machine a measurement ran on: CPU model, cores this process may use, memory (the machine's and the
limit of its control group), GPU, library versions, and whether it ran in a container.

Every benchmark result records them (:mod:`topobench.runs.results`), and study cells reuse them
(:mod:`topobench.study.provenance`), so a number always travels with the hardware that produced it. Reading them costs
a few small file reads: nothing heavy is imported (the GPU is found through the NVIDIA driver's ``/proc`` entries, or
through torch only when torch is already loaded, or when asked to import it), because the benchmark child records these
facts in the process whose memory it measures.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

# Libraries whose versions a result records (those not installed are left out).
PACKAGES = ("topobench", "numpy", "faiss-cpu", "hnswlib", "h5py", "torch", "transformers", "pyserini")
# Set by the Docker executor in the containers it starts: the image the measurement ran in.
DOCKER_IMAGE_ENV = "TOPOBENCH_DOCKER_IMAGE"
UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number (9223372036854771712)


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


def cores_used() -> int:
    """The CPUs this process may run on (its affinity: what ``--cpuset-cpus`` or ``taskset`` left it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def gpu_name(import_torch: bool = False) -> str | None:
    """The first GPU's model: from the NVIDIA driver (``/proc/driver/nvidia/gpus``), else from torch when it is
    already imported (or ``import_torch``), else None."""
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(encoding="utf-8").splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            continue
    torch = sys.modules.get("torch")
    if torch is None and import_torch:
        try:
            import torch
        except ImportError:
            return None
    if torch is None:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def memory_total_bytes() -> int | None:
    """The machine's memory (``MemTotal`` of /proc/meminfo)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_available_bytes() -> int | None:
    """Memory a new allocation can take now: ``MemAvailable`` of /proc/meminfo, at most what this process's control
    group has left; None when neither is known."""
    available = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    limit = memory_limit_bytes()
    if limit is not None:
        used = _read_int("/sys/fs/cgroup/memory.current") or _read_int(
            "/sys/fs/cgroup/memory/memory.usage_in_bytes") or 0
        available = min(available, limit - used) if available is not None else limit - used
    return available


def memory_limit_bytes() -> int | None:
    """The memory limit of this process's control group (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``: what
    ``docker run --memory`` sets), or None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        value = _read_int(path)
        if value is not None:
            return value if value < UNLIMITED else None
    return None


def containerized() -> bool:
    """Whether this process runs in some container (Docker's ``/.dockerenv`` or Podman's ``/run/.containerenv``); the
    machine itself may be one, so :data:`DOCKER_IMAGE_ENV` is what says topobench's Docker executor ran it."""
    return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()


def machine_facts(import_torch: bool = False) -> dict[str, Any]:
    """CPU model, cores used, memory (machine and limit), GPU, platform, Python, and the Docker image topobench ran the
    measurement in (None outside ``run.py --docker``)."""
    return {"cpu": cpu_model(), "cores": cores_used(), "memory_bytes": memory_total_bytes(),
            "memory_limit_bytes": memory_limit_bytes(), "gpu": gpu_name(import_torch),
            "platform": platform.platform(), "python": platform.python_version(),
            "docker_image": os.environ.get(DOCKER_IMAGE_ENV) or None,
            "in_docker": bool(os.environ.get(DOCKER_IMAGE_ENV)), "containerized": containerized()}


def installed_versions(packages: Sequence[str]) -> dict[str, str]:
    """``{package: version}`` of those ``packages`` that are installed (package metadata; nothing is imported)."""
    out = {}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (read from package metadata; nothing is imported). topobench run from
    its source tree (the Docker image puts it on ``PYTHONPATH``) reports its ``__version__``."""
    out = installed_versions(PACKAGES)
    if "topobench" not in out:
        import topobench

        out["topobench"] = topobench.__version__
    return out
