"""The ``tinyqa`` generator's corpus as BEIR-layout files (any size), and the tiny BERT whose vocabulary covers it,
for training tests (``topobench/corpus/tiny.py`` and ``topobench/backends/tiny_bert.py`` describe both)."""

from __future__ import annotations

import json
from pathlib import Path

from topobench.backends.tiny_bert import write_tiny_bert  # noqa: F401 - the tests import it from here
from topobench.corpus.tiny import synthetic_tables
from topobench.training.config import Stage, TrainConfig


def write_corpus(folder: Path, docs: int = 48, queries: int = 36, seed: int = 0, test_queries: int = 0) -> Path:
    """``folder`` in BEIR layout: corpus.jsonl, queries.jsonl, qrels/train.tsv (one positive per query, a few two)
    and, with ``test_queries``, qrels/test.tsv for as many more queries (the ``tinyqa`` generator's tables)."""
    documents, texts, qrels = synthetic_tables(docs, queries, test_queries, seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc_id, (title, text) in documents.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for split in texts.values():
            for qid, text in split.items():
                f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, judged in qrels.items():
        pairs = (f"{q}\t{d}\t{g}" for q, docs in judged.items() for d, g in docs.items())
        lines = ["query-id\tcorpus-id\tscore", *pairs]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_beir_zip(folder: Path, name: str, **corpus_options) -> Path:
    """``folder/<name>.zip`` laid out like BEIR's downloads (``<name>/corpus.jsonl``…), for a mirror folder."""
    import zipfile

    source = write_corpus(folder / f"{name}-files", **corpus_options)
    target = folder / f"{name}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, f"{name}/{path.relative_to(source)}")
    return target


def write_tiny_training(root: Path) -> dict[str, Path]:
    """The corpus (``corpus``) and the tiny BERT (``model``) of the training tests, under ``root``."""
    return {"corpus": write_corpus(root / "corpus"), "model": write_tiny_bert(root / "model")}


def tiny_train_config(tiny: dict[str, Path], **overrides) -> TrainConfig:
    """A topology-loss run of ``tiny``'s BERT on its corpus: in-batch warm-up, then model-mined negatives re-mined
    every 3 steps; batch 8, 6 dev queries, a resume state every 2 steps. ``overrides`` replace any field."""
    values = {
        "corpus": f"local:{tiny['corpus']}", "encoder": "minilm", "loss": "topology",
        "encoder_args": {"checkpoint": str(tiny["model"]), "progress": False},
        "stages": [Stage.parse("in_batch:epochs=1"),
                   Stage.parse("model:epochs=2,negatives=2,refresh_steps=3,depth=5,skip=1")],
        "batch_size": 8, "lr": 1e-3, "dev_queries": 6, "save_steps": 2, "keep_best": 2,
    }
    return TrainConfig(**{**values, **overrides})


def tiny_study_roots(root: Path, monkeypatch) -> Path:
    """The tiny studies' world under ``root``: the 300-document synthetic corpus as a mirror zip, every topobench root
    (mirror, cache, datasets, results, checkpoints, studies) inside ``root``; returns the tiny BERT's folder."""
    write_beir_zip(root / "mirror", "synthetic", docs=300, queries=48, test_queries=24)
    model = write_tiny_bert(root / "model")
    for env, folder in (("TOPOBENCH_MIRROR", "mirror"), ("TOPOBENCH_CACHE", "cache"),
                        ("TOPOBENCH_DATASETS", "datasets"), ("TOPOBENCH_RESULTS", "results"),
                        ("TOPOBENCH_CHECKPOINTS", "checkpoints"), ("TOPOBENCH_STUDIES", "studies")):
        monkeypatch.setenv(env, str(root / folder))
    return model


def write_recipe_plugin(folder: Path, name: str, recipe: dict) -> Path:
    """``folder/plugins/<name>_recipe.py``: a plugin declaring ``recipe`` as ``name``, as a user's would be, so that
    every process of a test (study.py, bench scripts) finds it through ``TOPOBENCH_PLUGIN_DIRS=folder/plugins``."""
    (folder / "plugins").mkdir(exist_ok=True)
    (folder / "plugins" / f"{name}_recipe.py").write_text(
        "from topobench.core.hookspecs import hookimpl\n\n\n@hookimpl\ndef register_recipes(register):\n"
        f"    register({name!r}, {recipe!r})\n")
    return folder / "plugins"
