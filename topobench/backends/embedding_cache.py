"""Corpus embeddings under the current weights, computed once per weights and shared by the model miner and dev eval.

The key is a fingerprint of the weights themselves (every parameter and buffer, hashed), plus the encoder settings
that change the output and the texts, so a cached matrix can never be served for an older (or newer) checkpoint:
after any optimiser step the fingerprint changes and the corpus is encoded again. Hashing MiniLM's 22M parameters costs
about 0.1 s, nothing next to encoding a corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def weights_fingerprint(module: Any) -> str:
    """sha256 over the names, shapes, dtypes and bytes of every parameter and buffer of a ``torch.nn.Module``."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype};".encode())
        digest.update(data.view(-1).view(_byte_dtype()).numpy().tobytes())
    return digest.hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def texts_fingerprint(texts: Sequence[str]) -> str:
    """sha256 of the texts, in order."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """Switch ``module`` to eval mode (no dropout) for the block, then back to the mode it was in."""
    was_training = bool(module.training)
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class EmbeddingCache:
    """The last ``size`` encodings of a text collection, keyed by (weights, encoder settings, texts, kind): :meth:`key`.

    ``encodes`` counts the encodings actually run, so a test (or a log) can tell a cache hit from a fresh encoding.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.encodes = 0
        self._entries: dict[tuple[str, ...], np.ndarray] = {}

    def key(self, encoder: Any, texts: Sequence[str], kind: str) -> tuple[str, ...]:
        """(weights, settings, texts, kind) fingerprints; the settings are the encoder's declared ``provenance()``
        (model, pooling, max length, prefixes, normalisation …), every fact besides the weights that shapes a vector."""
        settings = json.dumps(encoder.provenance(), sort_keys=True)
        return (weights_fingerprint(encoder.torch_module()), settings, texts_fingerprint(texts), kind)

    def cached(self, encoder: Any, texts: Sequence[str], kind: str = "doc") -> np.ndarray | None:
        """The cached encoding of ``texts`` under the encoder's current weights, or None: never encodes (what the
        trainer hands a loss that reads the corpus embeddings the model miner has just encoded)."""
        return self._entries.get(self.key(encoder, texts, kind))

    def encode(self, encoder: Any, texts: Sequence[str], kind: str = "doc") -> np.ndarray:
        """``encoder.encode(texts, kind)`` in eval mode, or the cached result for exactly these weights and texts."""
        key = self.key(encoder, texts, kind)
        if key in self._entries:
            logger.info("%d %ss: embeddings of these weights are cached", len(texts), kind)
            return self._entries[key]
        with eval_mode(encoder.torch_module()):
            vectors = encoder.encode(list(texts), kind=kind)
        self.encodes += 1
        self._entries[key] = vectors
        while len(self._entries) > self.size:
            self._entries.pop(next(iter(self._entries)))
        return vectors
