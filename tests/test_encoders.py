"""The Hugging Face encoders: minilm on its real cached weights, the others' pooling and prefixes on tiny random models.

The tiny models are real ``transformers`` models (a 2-layer BERT with a 40-word WordPiece vocabulary, and for NV-Embed a
small model that implements NV-Embed's forward interface) saved to ``tmp_path`` and loaded through the same code path
as hub weights, via the ``checkpoint`` option.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.encoders import Encoder, EncoderError, MissingWeightsError
from topobench.core.registry import get_registry

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = "the a cell cells protein gene mutation cancer risk study patients blood brain increase reduce".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"]
# Every word of the BGE and NV-Embed instructions, so prefix tokens are real tokens rather than [UNK].
INSTRUCTION_WORDS = (
    "represent this sentence for searching relevant passages instruct given question retrieve that answer"
)
TEXTS = [
    "the protein increase the risk",
    "cells",
    "a gene mutation in brain cells of patients reduce the blood protein",
    "cancer study",
]


def encoder_class(name: str) -> type[HFEncoder]:
    return get_registry().get("encoders", name).cls


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# Tiny models.


def tiny_tokenizer():
    vocab = SPECIAL + WORDS + sorted(set(INSTRUCTION_WORDS.split()) | {":", "\n"})
    return transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, eos_token="[EOS]")


def tiny_config(tokenizer) -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A randomly initialised 2-layer BERT and its tokenizer, saved in Hugging Face layout."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = tiny_tokenizer()
    transformers.BertModel(tiny_config(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


class TinyNVEmbedConfig(transformers.BertConfig):
    model_type = "tiny-nvembed"


class TinyNVEmbed(transformers.PreTrainedModel):
    """NV-Embed's forward interface over a tiny BERT: ``pool_mask`` in, ``{"sentence_embeddings"}`` out (mean
    pooled)."""

    config_class = TinyNVEmbedConfig

    def __init__(self, config):
        super().__init__(config)
        self.bert = transformers.BertModel(config)
        self.post_init()

    def forward(self, input_ids, attention_mask, pool_mask=None):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = pool_mask.unsqueeze(-1).to(hidden.dtype)
        return {"sentence_embeddings": (hidden * weights).sum(1) / weights.sum(1)}


@pytest.fixture(scope="module")
def tiny_nvembed(tmp_path_factory):
    transformers.AutoConfig.register(TinyNVEmbedConfig.model_type, TinyNVEmbedConfig, exist_ok=True)
    transformers.AutoModel.register(TinyNVEmbedConfig, TinyNVEmbed, exist_ok=True)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-nvembed")
    tokenizer = tiny_tokenizer()
    TinyNVEmbed(TinyNVEmbedConfig(**tiny_config(tokenizer).to_dict())).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def reference(path, texts, pooling, skip=0):
    """The embeddings computed by hand, one text at a time: no batching, padding or sorting involved."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            encoded = tokenizer([text], return_tensors="pt")
            batch = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
            if pooling == "model":
                pool_mask = batch["attention_mask"].clone()
                pool_mask[:, :skip] = 0
                vector = model(**batch, pool_mask=pool_mask)["sentence_embeddings"][0]
            else:
                hidden = model(**batch).last_hidden_state[0]
                vector = hidden[0] if pooling == "cls" else hidden.mean(0)
            out.append(torch.nn.functional.normalize(vector, dim=0).numpy())
    return np.stack(out)


# Registration and availability.


def test_registry_names_the_four_encoders():
    expected = {
        "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "mean"),
        "bge-small": ("BAAI/bge-small-en-v1.5", "cls"),
        "bert-base": ("bert-base-uncased", "mean"),
        "nv-embed": ("nvidia/NV-Embed-v2", "model"),
    }
    for name, (model_id, pooling) in expected.items():
        cls = encoder_class(name)
        assert issubclass(cls, HFEncoder) and issubclass(cls, Encoder) and cls.trainable
        assert (cls.model_id, cls.pooling) == (model_id, pooling)
    assert encoder_class("bge-small").query_prefix == "Represent this sentence for searching relevant passages: "
    assert encoder_class("nv-embed").query_prefix.startswith("Instruct: ")


def test_missing_weights_reported_in_one_line_without_loading(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cls = encoder_class("bge-small")
    reason = cls.unavailable_reason()
    assert reason is not None and "\n" not in reason
    assert "BAAI/bge-small-en-v1.5" in reason and "HF_HUB_CACHE" in reason and "HF_HUB_OFFLINE" in reason
    with pytest.raises(MissingWeightsError, match="BAAI/bge-small-en-v1.5"):
        cls(progress=False).encode(["x"])


def test_bad_options_fail_early(tmp_path):
    cls = encoder_class("minilm")
    with pytest.raises(EncoderError, match="quantize"):
        cls(quantize="int4")
    with pytest.raises(EncoderError, match="config.json"):
        cls(checkpoint=tmp_path)
    with pytest.raises(TypeError):
        cls(max_lenght=12)


# minilm on the real weights.


@pytest.fixture(scope="module")
def minilm():
    cls = encoder_class("minilm")
    if cls.unavailable_reason():
        pytest.skip(cls.unavailable_reason())
    return cls(batch_size=2, progress=False)


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    theirs = SentenceTransformer(minilm.model_id, device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = minilm.encode(TEXTS, "doc")
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert cosine(ours, theirs).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(minilm.encode(TEXTS, "query"), ours, atol=1e-6)  # no prefixes: queries = documents


def test_minilm_provenance(minilm):
    facts = minilm.provenance()
    assert facts["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(facts["revision"]) == 40  # the snapshot hash of the hub cache
    assert (facts["pooling"], facts["max_length"], facts["normalize"]) == ("mean", "256", "True")
    assert facts["torch"] == torch.__version__ and facts["transformers"] == transformers.__version__
    assert "checkpoint_sha256" not in facts


def test_minilm_int8_is_close_and_inference_only(minilm):
    quantized = encoder_class("minilm")(quantize="int8", progress=False)
    assert cosine(quantized.encode(TEXTS), minilm.encode(TEXTS)).min() > 0.95  # per-tensor weights gave ~0.92
    assert quantized.provenance()["quantize"] == "int8"
    with pytest.raises(EncoderError, match="quantised"):
        quantized.forward(TEXTS)


# Pooling and prefixes on tiny models.


def test_length_bucketing_keeps_input_order(tiny_bert):
    encoder = encoder_class("bert-base")(checkpoint=tiny_bert, batch_size=3, progress=False)
    texts = TEXTS * 2 + ["the"]
    together = encoder.encode(texts)
    alone = np.concatenate([encoder.encode([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert encoder.encode([]).shape == (0, 32)


@pytest.mark.parametrize("name, pooling", [("bert-base", "mean"), ("bge-small", "cls")])
def test_pooling_and_query_prefix(tiny_bert, name, pooling):
    encoder = encoder_class(name)(checkpoint=tiny_bert, progress=False)
    assert encoder.dimension == 32
    docs = encoder.encode(TEXTS, "doc")
    queries = encoder.encode(TEXTS, "query")
    np.testing.assert_allclose(docs, reference(tiny_bert, TEXTS, pooling), atol=1e-5)
    prefixed = [encoder.query_prefix + text for text in TEXTS]
    np.testing.assert_allclose(queries, reference(tiny_bert, prefixed, pooling), atol=1e-5)
    assert (name == "bge-small") == (not np.allclose(queries, docs))


def test_model_pooling_masks_the_instruction(tiny_nvembed):
    encoder = encoder_class("nv-embed")(checkpoint=tiny_nvembed, progress=False)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_nvembed)
    skip = len(tokenizer.tokenize(encoder.query_prefix))
    assert skip > 5  # the instruction's words are in the tiny vocabulary
    prefixed = [f"{encoder.query_prefix}{text}[EOS]" for text in TEXTS]
    expected = reference(tiny_nvembed, prefixed, "model", skip)
    np.testing.assert_allclose(encoder.encode(TEXTS, "query"), expected, atol=1e-5)
    documents = [f"{text}[EOS]" for text in TEXTS]
    np.testing.assert_allclose(encoder.encode(TEXTS, "doc"), reference(tiny_nvembed, documents, "model"), atol=1e-5)
    assert encoder.dimension == 32


def test_max_length_truncates(tiny_bert):
    encoder = encoder_class("bert-base")(checkpoint=tiny_bert, max_length=4, progress=False)
    assert max(len(ids) for ids in encoder.token_ids(TEXTS, "doc")) == 4
    np.testing.assert_allclose(encoder.encode(["the protein increase the risk"]), encoder.encode(["the protein"]))


# Training surface and checkpoints.


def test_forward_is_differentiable_and_matches_encode(tiny_bert):
    encoder = encoder_class("bge-small")(checkpoint=tiny_bert, progress=False)
    module = encoder.torch_module()
    embeddings = encoder.forward(TEXTS, "query")
    assert embeddings.requires_grad and embeddings.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(embeddings.detach().numpy(), encoder.encode(TEXTS, "query"), atol=1e-5)
    embeddings[:, 0].sum().backward()
    assert module.embeddings.word_embeddings.weight.grad is not None


def test_checkpoint_round_trip_in_both_layouts(tiny_bert, tmp_path):
    from sentence_transformers import SentenceTransformer

    original = encoder_class("bge-small")(checkpoint=tiny_bert, max_length=64, progress=False)
    saved = original.save_checkpoint(tmp_path / "ckpt")
    modules = json.loads((saved / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Normalize"]
    reloaded = encoder_class("bge-small")(checkpoint=saved, max_length=64, progress=False)
    np.testing.assert_allclose(reloaded.encode(TEXTS, "query"), original.encode(TEXTS, "query"), atol=1e-6)
    theirs = SentenceTransformer(str(saved), device="cpu")
    assert theirs.max_seq_length == 64
    queries = theirs.encode(TEXTS, prompt_name="query")
    assert cosine(queries, original.encode(TEXTS, "query")).min() > 0.9999
    facts = reloaded.provenance()
    assert facts["checkpoint"] == str(saved.resolve()) and len(facts["checkpoint_sha256"]) == 64
    assert facts["revision"] == ""


@pytest.mark.gpu
def test_cuda_fp16(tiny_bert):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    encoder = encoder_class("bert-base")(checkpoint=tiny_bert, device="cuda", progress=False)
    cpu = encoder_class("bert-base")(checkpoint=tiny_bert, device="cpu", progress=False)
    assert next(encoder.torch_module().parameters()).dtype == torch.float16
    assert cosine(encoder.encode(TEXTS), cpu.encode(TEXTS)).min() > 0.999
