"""The encoder interface: text → vectors. Real Hugging Face encoders arrive with the corpora/encoders work."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from topobench.component import Component


class Encoder(Component, ABC):
    """Turns query and document texts into fixed-size vectors.

    Capabilities (class attributes):
        dimension: output size of the vectors.
        normalized: whether ``encode`` returns unit vectors (so angular and ip coincide).
        distance: the distance the vectors are meant for (``angular`` | ``euclidean`` | ``ip``).
    """

    dimension: ClassVar[int] = 0
    normalized: ClassVar[bool] = True
    distance: ClassVar[str] = "angular"

    @abstractmethod
    def encode(self, texts: Sequence[str], kind: str = "doc") -> np.ndarray:
        """Encode ``texts`` (``kind`` is ``"query"`` or ``"doc"``) into a (len(texts) × dimension) float32 array."""

    def provenance(self) -> dict[str, str]:
        """Facts recorded in the dataset file: model id, revision, pooling, max length. Default: the class name."""
        return {"encoder": type(self).__name__}
