"""Fault probe (issue 21): replay the issue's bad inputs against the entry points and print what each did.

Not a test: a table to read. Every case runs its script (``run.py``, ``plot.py``, ``export.py``, ``train.py``,
``serve.py``, ``study.py``) in a fresh interpreter under a wrapper that reports the peak resident memory of the
script and everything it started (``ru_maxrss`` of ``RUSAGE_CHILDREN``), in a temporary folder: the working directory,
every root (datasets, results, indexes, studies, checkpoints, models, plots, cache, temporary files) and the planted
inputs (symbolic links, FIFOs, YAML bombs, damaged files) are under it. Each row gives the exit status (and the one
expected), whether stderr holds a traceback, whether the last stderr line is one ``error:`` line, whether anything was
written outside the roots (a file changed or added in the temporary folder outside ``roots/`` and the working
directory's root folders: the targets the links point at, the working directory itself), the peak memory and the
wall time. A last section sends bad bodies to a running ``serve.py`` (non-UTF-8 under three content types, an
oversize body, an absurd k) and counts 5xx answers.

Usage: ``.venv/bin/python bench/fault_probe.py [--keep] [--only SUBSTRING]`` (``HF_HUB_OFFLINE=1`` and
``HF_HUB_CACHE`` as for the tests). Ends with ``N cases, T tracebacks, W writes outside, U unexpected exit codes, max
RSS … MB``; exits 1 when any row is a traceback, a write outside, a 5xx or an unexpected exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = "random-xs-20-angular"
CASE_TIMEOUT = 180  # seconds; a case still running then is killed and reported as unbounded
ROOT_NAMES = ("datasets", "results", "indexes", "studies", "checkpoints", "models", "plots")
WRAPPER = ("import resource, subprocess, sys\n"
           "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, "
           "errors='replace')\n"
           "sys.stderr.write(p.stderr)\n"
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
           "sys.exit(p.returncode)\n")


@dataclass
class Case:
    name: str
    script: str
    args: list[str]
    expect: int = 2
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[], None] | None = None


@dataclass
class Row:
    case: Case
    code: int | None
    traceback: bool
    one_line: bool
    outside: list[str]
    peak_mb: float
    seconds: float
    last: str


def snapshot(base: Path, allowed: list[Path]) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file under ``base`` outside the ``allowed`` folders (links themselves, not followed)."""
    found = {}
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in allowed]
        for name in files:
            path = here / name
            try:
                info = path.lstat()
            except OSError:
                continue
            found[str(path.relative_to(base))] = (info.st_mtime_ns, info.st_size)
    return found


class Probe:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots = base / "roots"
        self.cwd = base / "cwd"
        self.inputs = base / "inputs"
        self.outside = base / "outside"
        for folder in (self.roots, self.cwd, self.inputs, self.outside, base / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "TMPDIR": str(base / "tmp"), "TOPOBENCH_CACHE": str(self.roots / "cache"),
                    "RAY_USAGE_STATS_ENABLED": "0"}
        for name in ROOT_NAMES:
            self.env[f"TOPOBENCH_{name.upper()}"] = str(self.roots / name)
        self.env.pop("TOPOBENCH_PLUGIN_DIRS", None)
        self.allowed = [self.roots, base / "tmp", *(self.cwd / name for name in ROOT_NAMES)]

    def path(self, name: str, text: str | None = None) -> str:
        """An input file under inputs/ (written when ``text`` is given)."""
        path = self.inputs / name
        if text is not None:
            path.write_text(text)
        return str(path)

    def run(self, case: Case) -> Row:
        if case.setup:
            case.setup()
        before = snapshot(self.base, self.allowed)
        start = time.monotonic()
        env = {**self.env, **case.env}
        proc = subprocess.Popen([sys.executable, "-c", WRAPPER, sys.executable, str(ROOT / case.script), *case.args],
                                cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CASE_TIMEOUT)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the wrapper's own session: the case and what it started
            out, err = proc.communicate()
            code = None
        seconds = time.monotonic() - start
        after = snapshot(self.base, self.allowed)
        outside = sorted(k for k, v in after.items() if before.get(k) != v)
        lines = [line for line in err.splitlines() if line.strip()]
        try:
            peak = int(out.strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            peak = float("nan")
        return Row(case, code, any("Traceback" in line for line in lines),
                   bool(lines) and lines[-1].startswith("error: ") and sum(x.startswith("error:") for x in lines) == 1,
                   outside, peak, seconds, lines[-1] if lines else "")


# --- the cases -------------------------------------------------------------------------------------------------------

def bomb(levels: int = 9) -> str:
    lines = ["      - &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"      - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def grid(entry: str) -> str:
    return "float:\n  any:\n" + entry


def cases(p: Probe) -> list[Case]:
    run = ["--dataset", DATASET, "--runs", "1"]
    flat = p.path("flat.yaml", grid("    flat:\n      args: []\n"))
    link = p.inputs / "link.out"
    (p.outside / "target.txt").write_text("not topobench's\n")
    if not link.is_symlink():
        link.symlink_to(p.outside / "target.txt")
    fifo = p.inputs / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    values = ", ".join(str(v) for v in range(1, 1001))
    study_bomb = ("w:\n  corpus: tinyqa\n  encoders: [toy]\n  variants: [stock]\n  algorithms: [flat]\n  seeds:\n"
                  + bomb().replace("      - ", "    - "))
    run_with_link = p.inputs / "run-with-link"
    run_with_link.mkdir(exist_ok=True)
    if not (run_with_link / "log.jsonl").is_symlink():
        (run_with_link / "log.jsonl").symlink_to(p.outside / "target.txt")
    blocked = p.roots / "results-blocked"
    (blocked / DATASET).mkdir(parents=True, exist_ok=True)
    (blocked / DATASET / "7").write_text("a file where a folder belongs\n")
    out = [
        # outputs only replace regular files (row 1)
        Case("export -o symlink", "export.py", ["-o", str(link)]),
        Case("export -o FIFO", "export.py", ["-o", str(fifo)]),
        Case("plot -o symlink", "plot.py", ["--dataset", DATASET, "-o", str(link.with_suffix(".png"))],
             setup=lambda: (link.with_suffix(".png").unlink(missing_ok=True),
                            link.with_suffix(".png").symlink_to(p.outside / "target.txt"))),
        Case("export -o - (stdout)", "export.py", ["-o", "-"], expect=0),
        Case("export --trec --point folder", "export.py", ["--trec", str(p.roots / "plots" / "x.run"), "--point",
                                                            str(p.inputs)]),
        # algos.yaml and the run options (rows 4, 6, 8)
        Case("algos M=-4", "run.py", [*run, "--definitions", p.path("neg.yaml", grid(
            "    hnsw:\n      args: [[-4], [40]]\n"))]),
        Case("algos M=1e23", "run.py", [*run, "--definitions", p.path("big.yaml", grid(
            "    hnsw:\n      args: [[99999999999999999999999], [40]]\n"))]),
        Case("algos duplicate key", "run.py", [*run, "--definitions", p.path("dup.yaml", grid(
            "    flat:\n      args: []\n    flat:\n      args: []\n"))]),
        Case("algos anchor bomb", "run.py", [*run, "--definitions", p.path("bomb.yaml", grid(
            "    flat:\n      args: []\n      query-args:\n") + bomb())]),
        Case("grid of 10^6 points", "run.py", [*run, "--definitions", p.path("million.yaml", grid(
            f"    flat:\n      args: [[{values}]]\n      query-args: [[{values}]]\n"))]),
        Case("--definitions /dev/zero", "run.py", [*run, "--definitions", "/dev/zero"]),
        Case("--definitions FIFO", "run.py", [*run, "--definitions", str(fifo)]),
        Case("--threads 1e9", "run.py", [*run, "--definitions", flat, "--threads", "1000000000"]),
        Case("--repeat 1e9", "run.py", [*run, "--definitions", flat, "--repeat", "1000000000"]),
        Case("--rounds 1e9", "run.py", [*run, "--definitions", flat, "--threads", "1", "--rounds", "1000000000"]),
        Case("--algorithm ,", "run.py", [*run, "--definitions", flat, "--algorithm", ","]),
        Case("--save-index '[[['", "run.py", [*run, "--definitions", flat, "--save-index", "[[["]),
        Case("300-character dataset", "run.py", ["--dataset", "a" * 300, "--definitions", flat]),
        Case("random-m-100000 (memory)", "run.py", ["--dataset", "random-m-100000-angular", "--definitions", flat]),
        Case("file where results/<d>/<count> goes", "run.py", [*run, "--definitions", flat, "--count", "7"],
             env={"TOPOBENCH_RESULTS": str(blocked)}),
        Case("TOPOBENCH_RESULTS= (empty)", "run.py", [*run, "--definitions", flat, "-q"], expect=0,
             env={"TOPOBENCH_RESULTS": ""}),
        Case("--docker --image 'bad image!!'", "run.py", [*run, "--definitions", flat, "--docker", "--image",
                                                          "bad image!!"]),
        Case("--docker --image UPPER/Case", "run.py", [*run, "--definitions", flat, "--docker", "--image",
                                                       "UPPER/Case"]),
        Case("--docker --image ''", "run.py", [*run, "--definitions", flat, "--docker", "--image", ""]),
        # export / serve parsing (row 6)
        Case("export --trec --params '[[['", "export.py", ["--trec", str(p.roots / "plots" / "x.run"), "--dataset",
                                                            DATASET, "--algorithm", "flat", "--params", "[[["]),
        Case("serve --params '[[['", "serve.py", ["--dataset", DATASET, "--algorithm", "flat", "--params", "[[["]),
        Case("serve --query-args '[[['", "serve.py", ["--dataset", DATASET, "--algorithm", "flat", "--query-args",
                                                      "[[["]),
        Case("serve --max-k 10^18", "serve.py", ["--dataset", DATASET, "--algorithm", "flat", "--max-k",
                                                 str(10**18)]),
        Case("serve truncated index.faiss", "serve.py", ["--dataset", DATASET, "--algorithm", "hnsw", "--no-build",
                                                         "--port", "0"],
             env={"TOPOBENCH_INDEXES": str(p.roots / "indexes-damaged")}, setup=lambda: damage_index(p)),
        # training (rows 3, 4, 6, 1)
        Case("train epochs=1e308", "train.py", ["--corpus", "scifact", "--encoder", "minilm", "--stage",
                                                "in_batch:epochs=1e308", "--output",
                                                str(p.roots / "checkpoints" / "a")]),
        Case("train --max-length 1e9", "train.py", ["--corpus", "scifact", "--encoder", "minilm", "--max-length",
                                                    "1000000000", "--output", str(p.roots / "checkpoints" / "b")]),
        Case("train --device cuda:7", "train.py", ["--corpus", f"local:{tiny_corpus(p)}", "--encoder", "minilm",
                                                   "--device", "cuda:7", "--output",
                                                   str(p.roots / "checkpoints" / "c")]),
        Case("train log.jsonl symlink", "train.py", ["--corpus", "scifact", "--encoder", "minilm", "--output",
                                                     str(run_with_link)]),
        # studies (rows 2, 4)
        Case("cell with NaN", "study.py", ["--studies", str(ROOT / "studies.yaml"), "-q", "report", "w-sweep", "-o",
                                           str(p.roots / "plots" / "report-nan")],
             env={"TOPOBENCH_STUDIES": str(p.roots / "studies-nan")}, setup=lambda: plant_cell(p, "nan")),
        Case("cell of another study", "study.py", ["--studies", str(ROOT / "studies.yaml"), "-q", "report", "w-sweep",
                                                   "-o", str(p.roots / "plots" / "report-other")],
             env={"TOPOBENCH_STUDIES": str(p.roots / "studies-other")}, setup=lambda: plant_cell(p, "other")),
        Case("studies.yaml anchor bomb", "study.py", ["--studies", p.path("studies-bomb.yaml", study_bomb), "list"]),
        Case("studies.yaml FIFO", "study.py", ["--studies", str(fifo), "list"]),
    ]
    if (ROOT / "tests" / "fixtures" / "beir_local").is_dir():
        out.append(Case("corrupt mirror zip for bm25", "run.py", [
            "--dataset", "minibeir-toy", "--count", "2", "--algorithm", "bm25", "--definitions",
            p.path("bm25.yaml", grid("    bm25:\n      args: [[0.9], [0.4]]\n"))],
            env={"TOPOBENCH_MIRROR": str(p.roots / "mirror"), "TOPOBENCH_PLUGIN_DIRS": str(ROOT / "tests" / "plugins")},
            setup=lambda: corrupt_mirror(p)))
    return out


def tiny_corpus(p: Probe) -> Path:
    """A BEIR-layout corpus of 12 documents and 12 queries with a train split, under inputs/."""
    folder = p.inputs / "tiny-corpus"
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": w, "text": f"{w} text {i}"})
                                                 + "\n" for i, w in enumerate(words)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"about {w}"}) + "\n"
                                                  for i, w in enumerate(words)))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                                + "".join(f"q{i}\td{i}\t1\n" for i in range(len(words))))
    return folder


def damage_index(p: Probe) -> None:
    """A copy of the saved indexes whose hnsw index.faiss is cut to half its length."""
    target = p.roots / "indexes-damaged"
    if not target.exists():
        shutil.copytree(p.roots / "indexes", target)
    for data in target.rglob("index.faiss"):
        size = data.stat().st_size
        with data.open("r+b") as f:
            f.truncate(size // 2)


def plant_cell(p: Probe, kind: str) -> None:
    """The committed w-sweep cells copied under roots/, one damaged: a NaN, or a cell of another study."""
    cells = ROOT / "studies" / "w-sweep" / "cells"
    target = p.roots / f"studies-{kind}" / "w-sweep" / "cells"
    if target.exists() or not cells.is_dir():
        return
    shutil.copytree(cells, target)
    first = sorted(target.glob("*.json"))[0]
    data = json.loads(first.read_text())
    if kind == "nan":
        text = json.dumps(data).replace('"format"', '"nan_here": NaN, "format"', 1)
        first.write_text(text)
    else:
        data["study"] = "groups"
        first.write_text(json.dumps(data))


def corrupt_mirror(p: Probe) -> None:
    """A BEIR zip in roots/mirror, a minibeir-toy dataset built from it, then the zip's members damaged."""
    mirror = p.roots / "mirror"
    if mirror.exists():
        return
    mirror.mkdir()
    fixture = ROOT / "tests" / "fixtures" / "beir_local"
    zipped = mirror / "minibeir.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for file in sorted(fixture.rglob("*")):
            if file.is_file():
                archive.write(file, f"minibeir/{file.relative_to(fixture).as_posix()}")
    env = {**p.env, "TOPOBENCH_MIRROR": str(mirror), "TOPOBENCH_PLUGIN_DIRS": str(ROOT / "tests" / "plugins")}
    subprocess.run([sys.executable, str(ROOT / "run.py"), "--dataset", "minibeir-toy", "--count", "2", "--runs", "1",
                    "--definitions", p.path("flat.yaml"), "-q"], cwd=p.cwd, env=env, capture_output=True, timeout=600)
    data = bytearray(zipped.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = b"\xff" * 64
    zipped.write_bytes(bytes(data))
    shutil.rmtree(p.roots / "cache", ignore_errors=True)


def prepare(p: Probe) -> None:
    """The dataset, its flat and hnsw results and saved indexes that export, plot and serve read."""
    grid_file = p.path("prepare.yaml", grid("    flat:\n      args: []\n    hnsw:\n      args: [[8], [40]]\n"
                                            "      query-args: [[20]]\n"))
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--dataset", DATASET, "--runs", "1", "--definitions",
                           grid_file, "--save-index", "-q"], cwd=p.cwd, env=p.env, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        sys.exit(f"preparing {DATASET} failed:\n{done.stderr}")


# --- the service ---------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, content_type: str | None) -> int:
    """The status of ``POST /search`` with ``body``, read even when the server answers (413) and closes before the
    whole body is sent; -1 when no status line came back."""
    head = f"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        try:
            conn.sendall(head.encode() + b"\r\n")
            for start in range(0, len(body), 1 << 16):
                conn.sendall(body[start:start + (1 << 16)])
        except OSError:
            pass  # the server stopped reading: its answer is already on the way
        try:
            first = conn.makefile("rb").readline()
        except OSError:
            return -1
    parts = first.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


def probe_service(p: Probe) -> tuple[list[tuple[str, int]], float]:
    """serve.py on the saved flat index; bad bodies and an absurd k; the server's peak memory (VmHWM)."""
    port = free_port()
    log = (p.base / "tmp" / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--dataset", DATASET, "--algorithm", "flat",
                               "--port", str(port), "--no-build"], cwd=p.cwd, env=p.env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    answers: list[tuple[str, int]] = []
    peak = float("nan")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        if server.poll() is not None:
            return [("serve.py did not start", server.returncode)], peak
        vector = json.dumps({"vector": [0.1] * 20, "k": 10}).encode()
        bad = b"\xff\xfe\x00 not utf-8 \x80"
        for name, body, kind in [
            ("valid search", vector, "application/json"),
            ("non-UTF-8 as text/plain", bad, "text/plain"),
            ("non-UTF-8 as application/octet-stream", bad, "application/octet-stream"),
            ("non-UTF-8 without content type", bad, None),
            ("50 MB body", b"[" + b"1," * (25 << 20) + b"1]", "application/json"),
            ("k = 10^12", json.dumps({"vector": [0.1] * 20, "k": 10**12}).encode(), "application/json"),
            ("malformed JSON", b"[[[", "application/json"),
        ]:
            answers.append((name, post(port, body, kind)))
        try:
            status = Path(f"/proc/{server.pid}/status").read_text()
            peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024
        except (OSError, StopIteration, ValueError):
            pass
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
    return answers, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="topobench-fault-probe-"))
    try:
        probe = Probe(base)
        print(f"preparing {DATASET} (flat and hnsw, saved) in {base} …", flush=True)
        prepare(probe)
        rows = []
        header = f"{'case':38} {'rc':>4} {'want':>4} {'trace':>5} {'1-line':>6} {'outside':>7} {'peak MB':>8} {'s':>6}"
        print(header)
        print("-" * len(header))
        for case in cases(probe):
            if args.only and args.only not in case.name:
                continue
            row = probe.run(case)
            rows.append(row)
            code = "kill" if row.code is None else str(row.code)
            print(f"{case.name[:38]:38} {code:>4} {case.expect:>4} {'YES' if row.traceback else 'no':>5} "
                  f"{'yes' if row.one_line else '-':>6} {len(row.outside):>7} {row.peak_mb:8.0f} {row.seconds:6.1f}"
                  + (f"  {row.outside[:3]}" if row.outside else "") + f"\n{'':40}{row.last[:150]}", flush=True)
        answers, server_peak = ([], float("nan")) if args.only else probe_service(probe)
        if answers:
            print(f"\n{'serve.py request':38} {'status':>6}")
            for name, status in answers:
                print(f"{name:38} {status:>6}")
        traces = sum(r.traceback for r in rows)
        outside = sum(bool(r.outside) for r in rows)
        unexpected = sum(r.code != r.case.expect for r in rows)
        five = sum(status >= 500 for _, status in answers)
        worst = max(rows, key=lambda r: r.peak_mb if r.peak_mb == r.peak_mb else 0.0)
        print(f"\n{len(rows)} cases, {traces} tracebacks, {outside} writes outside, {unexpected} unexpected exit "
              f"codes, max RSS {worst.peak_mb:.0f} MB ({worst.case.name}); service: {len(answers)} requests, "
              f"{five} 5xx, server peak {server_peak:.0f} MB")
        return 1 if traces or outside or unexpected or five else 0
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
