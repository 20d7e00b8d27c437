"""Helpers shared by the tests: a tiny dataset writer, an algos.yaml writer, and running the scripts as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from topobench.core.distances import exact_knn
from topobench.datasets.store import make_blobs, write_dataset

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TEST_PLUGIN_DIRS = os.pathsep.join([str(TESTS / "plugins"), str(TESTS / "plugins_faulty")])
# The faulty test plugins (tests/plugins_faulty) beside the exact toy index: one point hangs, one index crashes its
# process, one raises; the toy's points must still be written.
FAULTY_GRID = """\
float:
  any:
    hang:
      args: []
      query-args: [[ok, hang, ok2]]
    crash:
      args: []
    raises:
      args: []
    toy:
      args: []
"""


def toy_hnsw_grid(m: tuple[int, ...] = (8,), ef_search: tuple[int, ...] = (10, 40), extra: str = "") -> str:
    """algos.yaml text of the sweep most tests run: the exact toy index and HNSW (M in ``m``, efConstruction 40,
    efSearch in ``ef_search``), then ``extra`` (more entries, indented as the algorithms are)."""
    return ("float:\n  any:\n    toy:\n      args: []\n    hnsw:\n"
            f"      args: [{list(m)}, [40]]\n      query-args: [{list(ef_search)}]\n{extra}")


def write_tiny_dataset(folder: Path, name: str = "tiny-16-euclidean", distance: str = "euclidean",
                       n: int = 600, n_queries: int = 20, dim: int = 16) -> Path:
    """A small blob dataset with exact ground truth, in the real dataset format."""
    X = make_blobs(n + n_queries, dim, centers=12, seed=7)
    train, test = X[:n], X[n:]
    neighbors, distances = exact_knn(train, test, distance, 100, progress=False)
    path = folder / f"{name}.hdf5"
    write_dataset(path, train=train, test=test, distance=distance, neighbors=neighbors, distances=distances)
    return path


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a repository script (run.py, plot.py, export.py) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:]], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def fresh_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (a new JVM, no Ray state), from the repository root."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, check=False)
