"""Peak resident memory of one phase of the benchmark child (loading, the index build, a query sweep), measured.

ann-benchmarks reports memory as an RSS *delta* around the build, which reads 0 kB to 46 MB for one 7.9 MB IVF index
(pages freed and reused, allocator caches): topobench records the *peak* instead, from the kernel's own accounting:

* the process's high-water mark ``VmHWM`` (``/proc/self/status``), reset at the start of a phase by writing ``5`` to
  ``/proc/self/clear_refs`` (Linux ≥ 4.0; allowed for one's own process, in a container too), so each phase gets its
  own peak. Where the reset is refused the mark keeps counting from the process start — the child is fresh per
  definition, so the build's peak is still the build's (plus loading); the search phase's then reads
  ``max(build, search)`` and the result says so (``*_reset: false``). Without ``/proc`` it is ``ru_maxrss``;
* the container's control group (cgroup v2 ``memory.peak``, v1 ``memory.max_usage_in_bytes``) when running under
  ``run.py --docker``: what the ``--memory`` limit is enforced on. Docker mounts it read-only, so it cannot be reset
  per phase: it is the peak since the container started, page cache included (the dataset file read). Recorded beside
  the process figures, not instead of them.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topobench.core.machine import DOCKER_IMAGE_ENV

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
CGROUP_PEAK_FILES = (Path("/sys/fs/cgroup/memory.peak"), Path("/sys/fs/cgroup/memory/memory.max_usage_in_bytes"))


def status_bytes(field: str) -> int | None:
    """A ``kB`` line of /proc/self/status (``VmHWM``, ``VmRSS``) in bytes, or None where there is no /proc."""
    try:
        with STATUS.open(encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_bytes() -> int | None:
    """Resident memory now (``VmRSS``)."""
    return status_bytes("VmRSS")


def peak_bytes() -> int:
    """The process's resident high-water mark (``VmHWM``; ``ru_maxrss`` where there is no /proc)."""
    hwm = status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)  # bytes on macOS, kB on Linux


def reset_peak() -> bool:
    """Set the process's high-water mark back to its current RSS; False when the kernel refuses."""
    try:
        CLEAR_REFS.write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def cgroup_peak_bytes() -> int | None:
    """The peak memory of this process's control group since it was created (the container, under Docker), or None
    when it has no such file (no memory controller, or the machine-wide root group)."""
    for path in CGROUP_PEAK_FILES:
        try:
            return int(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
    return None


@dataclass
class Phase:
    """One measured phase: ``with Phase() as p: …`` then ``p.peak`` (bytes), ``p.reset`` (whether the mark was reset
    at its start, i.e. the peak is this phase's alone) and ``p.start_rss`` (resident memory when it began)."""

    peak: int = 0
    reset: bool = False
    start_rss: int | None = None

    def __enter__(self) -> Phase:
        self.reset = reset_peak()
        self.start_rss = rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = peak_bytes()


def record(build: Phase, search: Phase, loaded_rss: int | None) -> dict[str, Any]:
    """The ``memory`` entry of a result: the build's and the search phase's peaks, the resident memory once the dataset
    was loaded (before the build), and the container's peak where there is one."""
    return {
        "method": "VmHWM" if STATUS.exists() else "ru_maxrss",
        "loaded_rss_bytes": loaded_rss,
        "build_peak_bytes": build.peak, "build_peak_reset": build.reset,
        "search_peak_bytes": search.peak, "search_peak_reset": search.reset,
        # Outside topobench's containers the process's group may be the machine's root group: not a container's peak.
        "container_peak_bytes": cgroup_peak_bytes() if os.environ.get(DOCKER_IMAGE_ENV) else None,
    }
