"""Memory estimated before a memory-heavy step starts, where the sizes are known up front and the estimate is cheap.

A name such as ``random-m-100000-angular`` or a corpus of millions of documents asks for arrays the machine may not
hold; found only when numpy allocates (or the kernel's OOM killer steps in, minutes into the build), it is a traceback
or a killed process. Instead each step sums the arrays it will make from the sizes it knows and refuses, in one line
naming the fix, an estimate above the memory available now (:func:`topobench.core.machine.memory_available_bytes`).
The estimates count the large arrays only; they are a floor, so a refusal is never a false alarm.
"""

from __future__ import annotations

from topobench.core.errors import ConfigError
from topobench.core.machine import memory_available_bytes

FLOAT32 = 4
INT32 = 4
FLOAT64 = 8
INT64 = 8


def exact_knn_bytes(n_train: int, n_test: int, dim: int, k: int) -> int:
    """What :func:`topobench.core.distances.exact_knn` allocates: a (normalised) copy of the vectors and the flat
    index's own copy of the base, the top-``k`` ids and distances of every query."""
    k = min(k, n_train)
    return 2 * n_train * dim * FLOAT32 + n_test * dim * FLOAT32 + n_test * k * (INT32 + FLOAT32)


def gigabytes(n: int) -> str:
    """``n`` bytes for a message: MB, GB, or a power of ten beyond what a float holds."""
    if n >= 10**300:
        return f"10^{len(str(n)) - 1} bytes"
    if n >= 10**15:
        return f"{n / 1e9:.1e} GB"
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def check_fits(need: int, what: str, fix: str, available: int | None = None) -> None:
    """Raise a ConfigError ``<what> needs about N GB of memory, more than the M GB available: <fix>`` when ``need``
    bytes exceed ``available`` (default: the memory available now; no check where that is unknown)."""
    if available is None:
        available = memory_available_bytes()
    if available is not None and need > available:
        raise ConfigError(f"{what} needs about {gigabytes(need)} of memory, more than the {gigabytes(available)} "
                          f"available: {fix}")
