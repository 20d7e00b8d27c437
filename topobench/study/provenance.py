"""How a cell was obtained: the machine (CPU model, cores, GPU), library versions, the dataset's own provenance.

The machine facts and versions come from :mod:`topobench.core.machine`, which every benchmark result records too."""

from __future__ import annotations

import json
from typing import Any

from topobench.core.machine import machine_facts, versions
from topobench.datasets.store import Dataset

__all__ = ["dataset_provenance", "machine_facts", "versions"]


def dataset_provenance(dataset: Dataset) -> dict[str, Any]:
    """The dataset's corpus files (with sha256), encoder id and revision, the part datasets a union's was composed
    from (:mod:`topobench.encoding.union_dataset`: names, sizes, vectors' sha256), and the facts of this machine."""
    attrs = dataset.attrs
    composed = _json(attrs.get("composed_from"), None)
    return {
        "corpus_files": _json(attrs.get("corpus_files"), []),
        "encoder_model_id": attrs.get("encoder_model_id"), "encoder_revision": attrs.get("encoder_revision"),
        "encoder_checkpoint_sha256": attrs.get("encoder_checkpoint_sha256"),
        **({"composed_from": composed} if composed is not None else {}),
        "versions": versions(), "machine": machine_facts(import_torch=True),
    }


def _json(text: Any, default: Any) -> Any:
    """A JSON attribute's value; ``default`` when it is absent or not JSON."""
    if text is None:
        return default
    try:
        return json.loads(str(text))
    except ValueError:
        return default
