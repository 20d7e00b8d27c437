"""The encoder interface: text → vectors, plus the optional training surface that fine-tunable encoders add.

Encoders are constructed with keyword options through the registry (``registry.create("encoders", name,
**options)``); which options exist is up to the class (the Hugging Face encoders in
:mod:`topobench.backends.hf_encoder` take ``checkpoint``, ``max_length``, ``batch_size``, ``device``, ``quantize``,
``progress``). An option the class does not take is a ``ConfigError`` naming the ones it does, so typos fail loudly.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topobench.core.component import Component
from topobench.core.errors import TopobenchError

KINDS = ("query", "doc")


class EncoderError(TopobenchError):
    """An encoder that cannot be built or loaded as asked (bad option, unreadable checkpoint)."""


class MissingWeightsError(EncoderError):
    """Model weights that are neither in the local hub cache nor downloadable (offline)."""


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is ``"query"`` or ``"doc"``; raise ``ValueError`` otherwise (a programming error)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def directory_sha256(folder: Path) -> str:
    """A content hash of every file under ``folder`` (relative paths and bytes), so provenance pins a checkpoint."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def library_version(package: str) -> str:
    """The installed version of ``package`` (recorded in provenance), or ``absent``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


class Encoder(Component, ABC):
    """Turns query and document texts into fixed-size vectors.

    Capabilities (class attributes):
        dimension: output size of the vectors.
        normalized: whether ``encode`` returns unit vectors (so angular and ip coincide).
        distance: the distance the vectors are meant for (``angular`` | ``euclidean`` | ``ip``).
        trainable: whether the encoder implements the training surface (``forward``, ``torch_module``,
            ``tokenizer``, ``save_checkpoint``); the trainer checks this flag instead of probing for methods.

    Settings every encoder has (plain attributes, which a caller may set on an instance):
        progress: whether ``encode`` may show a progress bar over its batches (default True). The service sets it to
            False, since it encodes one request at a time; an encoder without a bar ignores it.
    """

    dimension: ClassVar[int] = 0
    normalized: ClassVar[bool] = True
    distance: ClassVar[str] = "angular"
    trainable: ClassVar[bool] = False
    progress: bool = True

    @abstractmethod
    def encode(self, texts: Sequence[str], kind: str = "doc") -> np.ndarray:
        """Encode ``texts`` (``kind`` is ``"query"`` or ``"doc"``) into a (len(texts) × dimension) float32 array."""

    def provenance(self) -> dict[str, str]:
        """Facts recorded in the dataset file: model id, revision, pooling, max length. Default: the class name."""
        return {"encoder": type(self).__name__}

    # The training surface: implemented by encoders with ``trainable = True``.

    def forward(self, texts: Sequence[str], kind: str = "doc") -> Any:
        """Differentiable embeddings (a ``torch.Tensor``, len(texts) × dimension) for training. Default: none."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def torch_module(self) -> Any:
        """The underlying ``torch.nn.Module`` (for the optimiser and ``train()``/``eval()``). Default: none."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def tokenizer(self) -> Any:
        """The tokenizer the module was trained with (saved beside it in checkpoints). Default: none."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a checkpoint directory that ``checkpoint=path`` loads again. Default: not supported."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")
