"""bench/qps_noise.py runs the runner's timing and two steadier readings on one index and prints their spread."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_prints_each_readings_spread_and_their_ratios(tiny_dataset, workspace):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "qps_noise.py"), "--dataset", tiny_dataset,
                          "--build", "8", "40", "--query", "10", "--repeats", "4", "--min-seconds", "0.01"],
                         capture_output=True, text=True, cwd=workspace, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{tiny_dataset} hnsw[8, 40][10]: ") and "4 readings each, interleaved" in lines[0]
    assert [line.split()[0] for line in lines[1:4]] == ["runner", "trimmed", "long"]
    last = re.fullmatch(r"qps_noise: runner_cv=(\S+) trimmed_cv=(\S+) long_cv=(\S+) trimmed/runner=(\S+) "
                        r"long/runner=(\S+) adjacent_r=(\S+)", lines[-1])
    assert last and all(float(v) >= 0 for v in last.groups()[:5]) and -1 <= float(last.group(6)) <= 1
