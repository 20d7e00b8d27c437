"""What a training run writes: the resume state, the best-k model checkpoints and the final summary.

Layout of a run's output folder::

    config.json         the TrainConfig (a rerun must match it to resume)
    log.jsonl           one line per optimiser step (loss components, lr, examples/s) and per dev evaluation
    resume.pt           weights, optimiser, scheduler, RNG states, position, mined pools — written temp-then-rename
    step-000040/        a kept checkpoint: Hugging Face + sentence-transformers layout (the best ``keep_best``)
    training.json       written last: the evaluations, the kept checkpoints and ``best``; its presence means done

Each of these files is the run's own: one that is not a regular file (a symbolic link, a FIFO, a device, a folder) is
refused before anything is read or written (:func:`check_run_files`), so a link planted in the folder never sends the
log's appends, or a replaced file, somewhere else.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path, kind_of
from topobench.core.errors import ConfigError

logger = logging.getLogger(__name__)

RESUME_FILE = "resume.pt"
SUMMARY_FILE = "training.json"
CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
RUN_FILES = (CONFIG_FILE, LOG_FILE, RESUME_FILE, SUMMARY_FILE)
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def not_regular(path: Path, found: str) -> ConfigError:
    return ConfigError(f"{path} is a {found}, not a regular file: a training run reads and writes only its own "
                       "files in its folder; remove it, or choose another --output")


def check_run_files(folder: Path) -> None:
    """Refuse a run folder whose config.json, log.jsonl, resume.pt or training.json exists as anything but a regular
    file (a symbolic link is not followed): one ConfigError, before the run reads or writes any of them."""
    for name in RUN_FILES:
        found = kind_of(folder / name)
        if found not in (None, "file"):
            raise not_regular(folder / name, found)


def save_resume_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``folder/resume.pt`` atomically: a kill leaves the previous state, never half of one."""
    import torch

    with atomic_path(folder / RESUME_FILE) as tmp:
        torch.save(state, tmp)


def load_resume_state(folder: Path) -> dict[str, Any] | None:
    """The last resume state, or None when the run never saved one."""
    import torch

    path = folder / RESUME_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def append_log(folder: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``folder/log.jsonl``, in place. Only to a regular file: a symbolic link
    is not followed (``O_NOFOLLOW``) and a FIFO or device is refused without blocking (``O_NONBLOCK``), nothing
    written."""
    path = folder / LOG_FILE
    found = kind_of(path)
    if found not in (None, "file"):
        raise not_regular(path, found)
    try:
        fd = os.open(path, APPEND_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        raise not_regular(path, kind_of(path) or "special file") from None  # a link or FIFO put there since
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise not_regular(path, kind_of(path) or "special file")
        f.write(json.dumps(record) + "\n")


def truncate_log(folder: Path, step: int) -> None:
    """Drop log records after ``step`` (a resumed run redoes those steps and logs them again)."""
    path = folder / LOG_FILE
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def step_name(step: int) -> str:
    return f"step-{step:06d}"


@dataclass
class BestCheckpoints:
    """The ``keep`` best evaluated checkpoints by dev nDCG@10 (ties: the earlier step), pruned from disk as it goes."""

    keep: int
    kept: list[dict[str, Any]] = field(default_factory=list)  # {"step", "ndcg@10", ...}, best first

    def offer(self, folder: Path, step: int, metrics: dict[str, float], save: Any) -> bool:
        """Keep the checkpoint of ``step`` if it ranks in the best ``keep``: ``save(path)`` writes it. True if kept."""
        entry = {"step": step, **metrics}
        ranked = sorted([*self.kept, entry], key=lambda e: (-e.get("ndcg@10", 0.0), e["step"]))
        if entry not in ranked[: self.keep]:
            return False
        target = folder / step_name(step)
        with atomic_path(target) as tmp:
            save(tmp)
        for dropped in ranked[self.keep:]:
            shutil.rmtree(folder / step_name(dropped["step"]), ignore_errors=True)
        self.kept = ranked[: self.keep]
        return True

    @property
    def best(self) -> dict[str, Any] | None:
        return self.kept[0] if self.kept else None

    def prune_strays(self, folder: Path) -> None:
        """Delete checkpoint folders not in ``kept`` (left by a run killed between saving and pruning)."""
        names = {step_name(e["step"]) for e in self.kept}
        for path in folder.glob("step-*"):
            if path.is_dir() and path.name not in names:
                shutil.rmtree(path, ignore_errors=True)


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    with atomic_path(folder / SUMMARY_FILE) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2), encoding="utf-8")


def read_summary(folder: Path) -> dict[str, Any] | None:
    path = folder / SUMMARY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
