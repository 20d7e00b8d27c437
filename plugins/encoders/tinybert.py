"""tinybert: a randomly initialised 2-layer BERT (32-d, mean pooling) for the ``tinyqa`` corpus — a minute-long
training variant that checks a new loss, miner or recipe end to end (``topobench/backends/tiny_bert.py``)."""

from pathlib import Path

from topobench.backends.hf_encoder import HFEncoder
from topobench.backends.tiny_bert import HIDDEN, tiny_bert_folder
from topobench.core.environment import cache_dir
from topobench.core.hookspecs import hookimpl


class TinyBert(HFEncoder):
    """The tiny BERT, made on first use under the cache folder; only meaningful on ``tinyqa``, whose words are its
    vocabulary. ``checkpoint=DIR`` loads a trained one, as for every Hugging Face encoder."""

    model_id = "topobench/tinybert"  # a name for provenance: the weights are made locally, never downloaded
    pooling = "mean"
    max_length = 128  # its texts are ~20 tokens; the model takes up to MAX_POSITIONS
    dimension = HIDDEN
    hub_weights = False

    def __init__(self, checkpoint: str | Path | None = None, **options) -> None:
        super().__init__(checkpoint=checkpoint or tiny_bert_folder(cache_dir()), **options)


@hookimpl
def register_encoders(register):
    register("tinybert", TinyBert)
