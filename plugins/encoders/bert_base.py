"""bert-base: bert-base-uncased, mean pooling, 512 tokens: an untuned starting point for training, not a retriever."""

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.hookspecs import hookimpl


class BertBase(HFEncoder):
    """bert-base-uncased (768-d, mean pooling); meant to be fine-tuned (train.py) before it retrieves well."""

    model_id = "bert-base-uncased"
    pooling = "mean"
    max_length = 512
    dimension = 768


@hookimpl
def register_encoders(register):
    register("bert-base", BertBase)
