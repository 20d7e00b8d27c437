"""Variant names: the grammar, canonical names, fingerprints, aliases and one-line errors for bad overrides."""

from __future__ import annotations

import pytest

from topobench.core.errors import DatasetError
from topobench.datasets.store import canonical_name
from topobench.training import recipes
from topobench.training.variants import parse_variant


def test_every_spelling_of_a_configuration_has_one_name_and_fingerprint():
    plain = parse_variant("scifact-minilm-topo")
    assert parse_variant("scifact-minilm-topo@weight=0.6").name == plain.name == "scifact-minilm-topo"
    assert parse_variant("scifact-minilm-topo@seed=13,temperature=0.05").name == plain.name
    one = parse_variant("scifact-minilm-topo@weight=1,seed=14")
    other = parse_variant("scifact-minilm-topo@seed=14,weight=1.0")
    assert one.name == other.name == "scifact-minilm-topo@seed=14,weight=1.0"
    assert one.config().fingerprint() == other.config().fingerprint() != plain.config().fingerprint()
    assert one.config().loss_args["weight"] == 1.0 and one.config().seed == 14
    assert canonical_name("scifact-minilm-topo@weight=0.6") == "scifact-minilm-topo"


def test_overrides_reach_the_configuration():
    config = parse_variant("scifact-minilm-topo@curriculum=in_batch+model,lr=0.0001,symmetric=true").config()
    assert [s.miner for s in config.stages] == ["in_batch", "model"]
    assert config.lr == 1e-4 and config.loss_args["symmetric"] is True
    staged = parse_variant("scifact-minilm-topo-staged").config()
    assert staged.loss_args["stage_weights"] == "0.2+0.6+1.0" and len(staged.stages) == 3
    inbatch = parse_variant("scifact-minilm-infonce-inbatch").config()
    assert [s.spec() for s in inbatch.stages] == ["in_batch:epochs=3"] and inbatch.loss == "infonce"


def test_aliases_zeroshot_and_names_outside_the_family():
    card = parse_variant("nq-bge-topo")
    assert (card.corpus, card.encoder, card.recipe, card.name) == ("nq", "bge-small", "topo", "nq-bge-small-topo")
    assert parse_variant("scifact-bge-small").encoder == "bge-small"
    zero = parse_variant("scifact-minilm-zeroshot")
    assert not zero.trains and zero.name == "scifact-minilm"
    assert parse_variant("random-xs-20-angular") is None


@pytest.mark.parametrize("name, message", [
    ("scifact-minilm-topo@wieght=1",
     "unknown override 'wieght' for recipe 'topo' with loss 'topology'; known keys: .*weight"),
    ("scifact-minilm-topo@seed=x", "seed=x is not a int; give e.g. seed=3"),
    ("scifact-minilm-topo@weight=abc", "weight=abc is not a float"),
    ("scifact-minilm-topo@seed", "'seed' is not key=value"),
    ("scifact-minilm-topo@seed=1,seed=2", "'seed' is given twice"),
    ("scifact-minilm-topo@curriculum=bm25+bm25", "curriculum=bm25\\+bm25 must name stages"),
    ("scifact-minilm-topo@corpus=nq", "unknown override 'corpus'"),
    ("scifact-minilm-zeroshot@seed=3", "takes no overrides"),
    ("scifact-minilm-nope", "unknown training recipe 'nope'"),
    ("scifact-minilm-topo@batch_size=1", "batch_size must be at least 2"),
])
def test_bad_overrides_are_one_clear_error(name, message):
    with pytest.raises(DatasetError, match=message) as info:
        variant = parse_variant(name)
        variant.config()
    assert "\n" not in str(info.value)


def test_checkpoint_folders_are_keyed_by_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv(recipes.CHECKPOINTS_ENV, str(tmp_path))
    config = parse_variant("scifact-minilm-topo@seed=14").config()
    assert recipes.run_folder(config) == tmp_path / f"scifact-minilm-{config.fingerprint()}"


def test_train_corpus_names_a_transfer_variant_that_reuses_the_checkpoint():
    # Trained on SciFact, encoded and benchmarked on NFCorpus: the very training configuration of scifact-minilm-topo,
    # so the same fingerprint (the same checkpoint folder) and a dataset name that keeps both corpora.
    transfer = parse_variant("nfcorpus-minilm-topo@weight=0.6,train_corpus=scifact")
    assert transfer.name == "nfcorpus-minilm-topo@train_corpus=scifact"
    assert transfer.corpus == "nfcorpus" and transfer.config().corpus == "scifact"
    assert transfer.config().fingerprint() == parse_variant("scifact-minilm-topo").config().fingerprint()
    assert parse_variant("scifact-minilm-topo@train_corpus=scifact").name == "scifact-minilm-topo"  # its own corpus
    pooled = parse_variant("scifact+nfcorpus+medquad-minilm-topo@seed=14,train_corpus=scifact")
    assert pooled.corpus == "scifact+nfcorpus+medquad" and pooled.config().corpus == "scifact"
    with pytest.raises(DatasetError, match="train_corpus=Sci is not a corpus name"):
        parse_variant("nfcorpus-minilm-topo@train_corpus=Sci")
