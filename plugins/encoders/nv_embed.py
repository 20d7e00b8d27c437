"""nv-embed: nvidia/NV-Embed-v2 with its own latent-attention pooling (remote code), instruction-prefixed queries.

As in the model card: queries start with ``Instruct: <task>\\nQuery: `` and the instruction tokens are masked out of
the pooling; every text ends with the EOS token; documents get no prefix; 32,768 tokens.
"""

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.hookspecs import hookimpl


class NVEmbed(HFEncoder):
    """NV-Embed-v2 (4096-d, the model's own pooling, instruction-prefixed queries; needs its remote code)."""

    model_id = "nvidia/NV-Embed-v2"
    pooling = "model"
    query_prefix = "Instruct: Given a question, retrieve passages that answer the question\nQuery: "
    pool_prefix = False
    append_eos = True
    max_length = 32768
    dimension = 4096
    trust_remote_code = True


@hookimpl
def register_encoders(register):
    register("nv-embed", NVEmbed)
