"""The environment: the cache root every layer shares (``$TOPOBENCH_CACHE``), and setting environment variables for a
while (Ray workers run units of work in a long-lived process, and each unit points the folders it writes — results,
studies, datasets — at its own scratch space, then puts the worker back)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from topobench.core.roots import env_folder

CACHE_ENV = "TOPOBENCH_CACHE"


def cache_dir() -> Path:
    """The cache root: ``$TOPOBENCH_CACHE`` or ``~/.cache/topobench`` (downloads, the tiny BERT, …)."""
    return env_folder(CACHE_ENV, str(Path.home() / ".cache" / "topobench"))


@contextmanager
def temporary_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (inherited by children started inside), and restore every variable's earlier
    value, or its absence, on the way out, whatever happens inside."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
