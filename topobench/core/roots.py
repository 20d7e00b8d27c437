"""The folders the project writes under (datasets, results, indexes, checkpoints, models, studies, plots, the cache),
each from its environment variable.

An empty variable (``TOPOBENCH_RESULTS=``) counts as unset, so it means the default folder and never the working
directory itself (``Path("")`` is ``.``): results must not land beside the user's files because a variable was
cleared.
"""

from __future__ import annotations

import os
from pathlib import Path


def env_folder(variable: str, default: str) -> Path:
    """The folder named by ``variable`` (``~`` expanded), or ``default`` when it is unset, empty or blank."""
    value = os.environ.get(variable, "").strip()
    return Path(os.path.expanduser(value)) if value else Path(default)
