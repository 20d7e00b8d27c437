"""How a cell was obtained: the machine (CPU model, cores, GPU), library versions, the dataset's own provenance.

The machine facts and versions come from :mod:`topobench.core.machine`, which every benchmark result records too."""

from __future__ import annotations

import json
from typing import Any

from topobench.core.machine import machine_facts, versions
from topobench.datasets.store import Dataset

__all__ = ["dataset_provenance", "machine_facts", "versions"]


def dataset_provenance(dataset: Dataset) -> dict[str, Any]:
    """The dataset's corpus files (with sha256), encoder id and revision, and the facts of this machine."""
    attrs = dataset.attrs
    try:
        files = json.loads(str(attrs.get("corpus_files", "[]")))
    except ValueError:
        files = []
    return {
        "corpus_files": files,
        "encoder_model_id": attrs.get("encoder_model_id"), "encoder_revision": attrs.get("encoder_revision"),
        "encoder_checkpoint_sha256": attrs.get("encoder_checkpoint_sha256"),
        "versions": versions(), "machine": machine_facts(import_torch=True),
    }
