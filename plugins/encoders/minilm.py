"""minilm: sentence-transformers/all-MiniLM-L6-v2, mean pooling, no prefixes, 256 tokens (its published limit)."""

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.hookspecs import hookimpl


class MiniLM(HFEncoder):
    """all-MiniLM-L6-v2 (384-d, mean pooling): the one encoder whose weights are cached here."""

    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    pooling = "mean"
    max_length = 256
    dimension = 384


@hookimpl
def register_encoders(register):
    register("minilm", MiniLM)
