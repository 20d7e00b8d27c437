"""bge-small: BAAI/bge-small-en-v1.5, CLS pooling, BGE's retrieval instruction before queries, 512 tokens."""

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.hookspecs import hookimpl


class BGESmall(HFEncoder):
    """bge-small-en-v1.5 (384-d, CLS pooling, query instruction)."""

    model_id = "BAAI/bge-small-en-v1.5"
    pooling = "cls"
    query_prefix = "Represent this sentence for searching relevant passages: "
    max_length = 512
    dimension = 384


@hookimpl
def register_encoders(register):
    register("bge-small", BGESmall)
