"""Library logs stay quiet: a sweep's output shows progress and results, not faiss's loader chatter.

faiss's loader logs at INFO which CPU build it picked ("Could not load library with AVX512 support …", "Loading faiss
with AVX2 support") each time a process imports faiss, and the runner imports it in a spawned child per build, where
logging is set up again at the main job's level. ``topobench.QUIET_LOGGERS`` keeps those loggers at WARNING in every
process that imports topobench.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from helpers import cli

pytest.importorskip("faiss")

FLAT_GRID = "float:\n  any:\n    flat:\n      args: []\n"
CHATTER = ("faiss.loader", "Loading faiss", "Could not load library", "Successfully loaded faiss")


def test_sweep_output_has_no_faiss_loader_lines(workspace, tiny_dataset):
    grid = workspace / "algos.yaml"
    grid.write_text(FLAT_GRID)
    result = cli("run.py", "--dataset", tiny_dataset, "--algorithm", "flat", "--runs", "1", "--definitions", str(grid),
                 cwd=workspace)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    # INFO lines of the child (which builds the index and imports faiss) are shown: the quiet is targeted, not global.
    assert "INFO topobench.runs.unit_run: built FaissFlat()" in output, output
    assert not [line for line in output.splitlines() if any(c in line for c in CHATTER)], output


def test_faiss_loader_is_quiet_even_when_a_process_logs_info():
    # A fresh interpreter that configures INFO logging itself (as the sweep's children do) and then imports faiss.
    code = ("import logging, topobench; logging.basicConfig(level=logging.INFO); import faiss; "
            "print(logging.getLogger('faiss.loader').level)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(logging.WARNING)
    assert not [line for line in result.stderr.splitlines() if any(c in line for c in CHATTER)], result.stderr
