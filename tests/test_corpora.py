"""Corpora: BEIR / DPR / MS MARCO readers on real SciFact and on fixtures in the exact upstream formats; the mirror,
cache and download path (against a local HTTP server only: no external traffic); DPR's answer matching."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import shutil
import socket
import tarfile
import threading
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest

from topobench.core.errors import DatasetError, UnknownNameError
from topobench.corpus import corpora, download
from topobench.corpus.answers import answer_accuracy, answer_hit_ranks, has_answer, tokenize
from topobench.corpus.corpora import load_corpus
from topobench.corpus.formats import iter_json_array, read_dpr_biencoder, read_msmarco

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_MIRROR = Path(os.environ.get("TOPOBENCH_TEST_MIRROR", Path(__file__).parents[2] / "shared" / "mirror"))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets an empty cache and no mirror, so nothing here reads or writes the user's real cache."""
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    monkeypatch.setenv(download.MIRROR_ENV, str(folder))
    return folder


@pytest.fixture
def offline(monkeypatch):
    """Point every upstream address at a closed local port, so a download attempt fails at once and stays local."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(corpora, "BEIR_URL", base + "/beir/{name}.zip")
    monkeypatch.setattr(corpora, "DPR_URL", base + "/dpr/{path}")
    monkeypatch.setattr(corpora, "MSMARCO_URL", base + "/msmarcoranking/collectionandqueries.tar.gz")
    return base


def gzip_into(source: Path, target: Path) -> None:
    with open(source, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def cache_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] if (tmp_path / "cache").exists() else []


# ----------------------------------------------------------------------------------------------- BEIR


@pytest.mark.skipif(not (SHARED_MIRROR / "scifact.zip").is_file(),
                    reason=f"no BEIR scifact.zip in {SHARED_MIRROR} (set TOPOBENCH_TEST_MIRROR to a mirror holding it)")
def test_scifact_from_the_mirror(monkeypatch, offline, tmp_path):
    monkeypatch.setenv(download.MIRROR_ENV, str(SHARED_MIRROR))
    started = time.perf_counter()
    corpus = load_corpus("scifact")
    elapsed = time.perf_counter() - started
    assert len(corpus.docs) == 5183
    assert corpus.splits() == ["train", "test"]
    assert sum(len(j) for j in corpus.qrels["train"].values()) == 919
    assert sum(len(j) for j in corpus.qrels["test"].values()) == 339
    assert len(corpus.queries["test"]) == 300
    assert len(corpus.queries["train"]) + len(corpus.queries["test"]) == 1109
    assert corpus.answers == {}
    first = corpus.doc_ids()[0]
    title, text = corpus.docs[first]
    assert corpus.doc_text(first) == f"{title} {text}"
    (source,) = corpus.provenance["files"]
    assert source["from"] == "mirror" and source["size"] == (SHARED_MIRROR / "scifact.zip").stat().st_size
    assert len(source["sha256"]) == 64 and source["url"].endswith("/scifact.zip")
    assert cache_files(tmp_path) == []  # read in place: nothing copied or extracted
    assert elapsed < 5, f"SciFact took {elapsed:.1f} s to load"
    assert set(load_corpus("scifact", splits=["test"]).queries) == {"test"}


def test_local_beir_folder():
    corpus = load_corpus(f"local:{FIXTURES / 'beir_local'}")
    assert corpus.doc_ids() == ["d1", "d2", "d3"]
    assert corpus.splits() == ["dev", "test"]
    assert corpus.queries["test"] == {
        "q1": "Does aspirin prevent heart attacks?",
        "q2": "Do statins lower cholesterol?",
    }
    assert corpus.qrels["test"] == {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    assert corpus.doc_text("d1") == "Aspirin Aspirin reduces the risk of heart attack."
    assert corpus.doc_text("d2") == "A document without a title."  # empty title left out (BEIR convention)
    assert corpus.provenance["format"] == "beir" and {f["from"] for f in corpus.provenance["files"]} == {"local"}
    assert load_corpus(str(FIXTURES / "beir_local")).qrels == corpus.qrels  # a plain path works too
    with pytest.raises(DatasetError, match="no split train"):
        load_corpus(f"local:{FIXTURES / 'beir_local'}", splits=["train"])


def beir_zip(target: Path, name: str, compression=zipfile.ZIP_DEFLATED) -> Path:
    """A BEIR-style zip (``<name>/corpus.jsonl`` ...) built from the local fixture folder."""
    with zipfile.ZipFile(target, "w", compression) as archive:
        for path in sorted((FIXTURES / "beir_local").rglob("*")):
            if path.is_file():
                archive.write(path, f"{name}/{path.relative_to(FIXTURES / 'beir_local').as_posix()}")
    return target


def test_beir_zip_from_a_mirror(mirror, offline, tmp_path):
    beir_zip(mirror / "nfcorpus.zip", "nfcorpus")
    corpus = load_corpus("nfcorpus")
    assert len(corpus.docs) == 3 and corpus.qrels["test"]["q2"] == {"d3": 1}
    assert corpus.provenance["files"][0]["from"] == "mirror"
    beir_zip(mirror / "nq.zip", "nq")
    assert load_corpus("beir:nq").name == "beir:nq"  # BEIR's copy of NQ, beside DPR's ``nq``
    with zipfile.ZipFile(mirror / "cqadupstack.zip", "w") as archive:  # one zip, one BEIR folder per forum
        for forum in ("android", "gis"):
            for path in sorted((FIXTURES / "beir_local").rglob("*.*")):
                archive.write(path, f"cqadupstack/{forum}/{path.relative_to(FIXTURES / 'beir_local').as_posix()}")
    assert len(load_corpus("beir:cqadupstack/gis").docs) == 3
    with pytest.raises(DatasetError, match="cqadupstack/android, cqadupstack/gis"):
        load_corpus("cqadupstack")
    assert cache_files(tmp_path) == []


def test_truncated_zip_in_the_mirror_is_one_clear_error(mirror, offline, tmp_path):
    data = beir_zip(tmp_path / "whole.zip", "scifact").read_bytes()
    (mirror / "scifact.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"scifact\.zip is truncated.*mirror") as info:
        load_corpus("scifact")
    assert "\n" not in str(info.value)
    assert cache_files(tmp_path) == []


def test_corrupt_zip_member_fails_its_crc(mirror, offline, tmp_path):
    data = bytearray(beir_zip(tmp_path / "whole.zip", "scifact", zipfile.ZIP_STORED).read_bytes())
    at = bytes(data).index(b"Aspirin reduces")
    data[at : at + 7] = b"Xspirin"  # same length: the zip structure is intact, the member's CRC is not
    (mirror / "scifact.zip").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="CRC"):
        load_corpus("scifact")
    assert cache_files(tmp_path) == []


def test_corrupt_cache_entry_is_removed(offline, tmp_path):
    downloads = download.downloads_dir()
    downloads.mkdir(parents=True)
    data = beir_zip(tmp_path / "whole.zip", "scifact").read_bytes()
    (downloads / "scifact.zip").write_bytes(data[:100])
    with pytest.raises(DatasetError, match="removed from the cache"):
        load_corpus("scifact")
    assert cache_files(tmp_path) == []


def test_missing_file_offline_says_where_to_put_it(offline, tmp_path):
    with pytest.raises(DatasetError, match=r"cannot download .*scifact\.zip .*put scifact\.zip in \$TOPOBENCH_MIRROR"):
        load_corpus("scifact")
    assert cache_files(tmp_path) == []


def test_all_missing_files_named_in_one_error(offline, tmp_path):
    with pytest.raises(DatasetError, match="4 files are missing") as info:
        load_corpus("nq")
    for name in ("psgs_w100.tsv.gz", "biencoder-nq-train.json.gz", "biencoder-nq-dev.json.gz", "nq-test.qa.csv"):
        assert name in str(info.value)
    assert cache_files(tmp_path) == []


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownNameError, match="scifact.*msmarco|msmarco.*scifact") as info:
        load_corpus("no-such-corpus")
    assert "nq" in str(info.value) and "local:<path>" in str(info.value)


# ----------------------------------------------------------------------------------------------- DPR


@pytest.fixture
def dpr_mirror(mirror) -> Path:
    """DPR's files as upstream names them: gzip where DPR serves gzip, plain nq-test.qa.csv."""
    for name in ("psgs_w100.tsv", "biencoder-nq-train.json", "biencoder-nq-dev.json", "biencoder-trivia-dev.json"):
        gzip_into(FIXTURES / "dpr" / name, mirror / f"{name}.gz")
    shutil.copy(FIXTURES / "dpr" / "nq-test.qa.csv", mirror / "nq-test.qa.csv")
    return mirror


def test_nq_in_dpr_formats(dpr_mirror, offline, tmp_path):
    corpus = load_corpus("nq")
    assert corpus.splits() == ["train", "dev", "test"]
    assert len(corpus.docs) == 8
    aaron = corpus.docs["1"]
    assert aaron.title == "Aaron" and aaron.text.startswith('Aaron Aaron ( or ; "Ahärôn") is')  # CSV quotes undone
    assert corpus.doc_text("1") == f"Aaron {aaron.text}"
    # dev: qrels from positive_ctxs; the question without positives is skipped as DPR does (ids keep file positions)
    assert corpus.queries["dev"] == {
        "dev-0": "who got the first nobel prize in physics",
        "dev-1": "when is the next deadpool movie being released",
    }
    assert corpus.qrels["dev"] == {"dev-0": {"2": 1, "3": 1}, "dev-1": {"4": 1}}
    assert corpus.answers["dev"]["dev-0"] == ["Wilhelm Conrad Röntgen"]
    assert corpus.qrels["train"] == {"train-0": {"1": 1}}
    # test: questions and answers, no qrels
    assert "test" not in corpus.qrels
    assert corpus.answers["test"] == {
        "test-0": ["Wilhelm Conrad Röntgen"],
        "test-1": ["Aaron's rod"],
        "test-2": ["May 18 , 2018", "May 18, 2018"],
    }
    assert [f["name"] for f in corpus.provenance["files"]] == [
        "psgs_w100.tsv.gz", "biencoder-nq-train.json.gz", "biencoder-nq-dev.json.gz", "nq-test.qa.csv"]
    assert cache_files(tmp_path) == []
    only = load_corpus("nq", splits=["test"])
    assert only.splits() == ["test"] and len(only.docs) == 8


def test_nq_answer_accuracy_on_the_fixture(dpr_mirror, offline):
    corpus = load_corpus("nq", splits=["test"])
    ranking = ["7", "6", "2", "5"]  # the same ranking for every question: only test-0 ("Röntgen", rank 3) hits
    texts = [[corpus.docs[d].text for d in ranking] for _ in corpus.queries["test"]]
    answers = [corpus.answers["test"][q] for q in corpus.queries["test"]]
    assert answer_hit_ranks(texts, answers) == [3, 4, None]  # test-1: "Aaron's rod" is in passage 5
    assert answer_accuracy(texts, answers, k=2) == 0
    assert answer_accuracy(texts, answers, k=3) == pytest.approx(1 / 3)
    assert answer_accuracy(texts, answers, k=20) == pytest.approx(2 / 3)


def test_dpr_pool_corpus(dpr_mirror, offline):
    corpus = load_corpus("nq-pool")
    assert corpus.splits() == ["dev"]
    assert set(corpus.docs) == {"2", "3", "4", "6", "7", "8", "1"}  # every ctx of the dev file, incl. skipped question
    assert corpus.docs["4"] == load_corpus("nq", splits=["dev"]).docs["4"]
    trivia = load_corpus("trivia-pool")  # TriviaQA files name the id psg_id
    assert trivia.qrels["dev"] == {"dev-0": {"3": 1}} and set(trivia.docs) == {"3", "7"}
    assert trivia.answers["dev"]["dev-0"] == ["Röntgen", "Roentgen"]
    with pytest.raises(DatasetError, match="only the dev split"):
        load_corpus("nq-pool", splits=["test"])


def test_pool_protocol_keeps_every_relevant_document_and_draws_the_rest(dpr_mirror, offline):
    full = load_corpus("nq")
    relevant = {"1", "2", "3", "4"}  # train-0's and the dev questions' positive_ctxs
    pool = load_corpus("nq-pool6")
    assert pool.name == "nq-pool6" and len(pool.docs) == 6 and relevant <= set(pool.docs)
    assert list(pool.docs) == [d for d in full.docs if d in pool.docs]  # the corpus's order
    assert pool.queries == full.queries and pool.qrels == full.qrels and pool.answers == full.answers
    assert pool.provenance["pool"] == 6 and pool.provenance["pool_of"] == "nq"
    assert set(load_corpus("nq-pool6").docs) == set(pool.docs)  # seeded: the same name, the same pool
    dev = load_corpus("nq-pool6", splits=["dev"])  # drawn from every split's judgements whatever is asked for
    assert set(dev.docs) == set(pool.docs) and dev.splits() == ["dev"]
    assert set(load_corpus("nq-pool1k").docs) == set(full.docs)  # more than the corpus: all of it
    with pytest.raises(DatasetError, match="4 judged-relevant documents, more than the pool of 3"):
        load_corpus("nq-pool3")


def test_truncated_gzip_in_the_mirror(dpr_mirror, offline, tmp_path):
    data = (dpr_mirror / "biencoder-nq-dev.json.gz").read_bytes()
    (dpr_mirror / "biencoder-nq-dev.json.gz").write_bytes(data[: len(data) - 20])
    with pytest.raises(DatasetError, match=r"biencoder-nq-dev\.json\.gz is truncated.*mirror"):
        load_corpus("nq", splits=["dev"])
    assert cache_files(tmp_path) == []


def test_biencoder_reader_direct():
    queries, qrels, answers = read_dpr_biencoder(FIXTURES / "dpr" / "biencoder-trivia-dev.json", "dev")
    assert queries == {"dev-0": "Which physicist discovered X-rays?"}
    assert qrels == {"dev-0": {"3": 1}}


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_streamed_json_array_matches_json_load(chunk):
    text = (FIXTURES / "dpr" / "biencoder-nq-dev.json").read_text(encoding="utf-8")
    import json

    assert list(iter_json_array(io.StringIO(text), chunk_chars=chunk)) == json.loads(text)
    assert list(iter_json_array(io.StringIO(" [ ] "), chunk_chars=chunk)) == []
    assert list(iter_json_array(io.StringIO("[1, 23, {\"a\": [4]}]"), chunk_chars=chunk)) == [1, 23, {"a": [4]}]
    with pytest.raises(ValueError):
        list(iter_json_array(io.StringIO("[1, 2"), chunk_chars=chunk))


# ----------------------------------------------------------------------------------------------- MS MARCO


def check_msmarco(corpus):
    assert corpus.splits() == ["train", "dev"]
    assert len(corpus.docs) == 6
    assert corpus.docs["2"].text == '"Quoted" passages keep their quotes, and a lone quote " too.'  # no CSV quoting
    assert corpus.docs["2"].title == "" and corpus.doc_text("2") == corpus.docs["2"].text
    assert corpus.queries["train"] == {
        "1000": "what was the manhattan project",
        "1001": "what is the capital of andorra",
    }
    assert corpus.qrels["train"] == {"1000": {"0": 1, "1": 1}, "1001": {"3": 1}}
    assert corpus.queries["dev"]["2000"] == '"quoted" query about caffeine'
    assert corpus.qrels["dev"] == {"1048585": {"2": 1}, "2000": {"5": 1}}
    assert corpus.provenance["format"] == "msmarco"


def test_msmarco_local_folder():
    check_msmarco(load_corpus(f"local:{FIXTURES / 'msmarco'}"))
    docs, queries, qrels = read_msmarco(FIXTURES / "msmarco", splits=["dev"])
    assert set(queries) == {"dev"} and len(docs) == 6


def test_msmarco_archive_from_the_mirror(mirror, offline, tmp_path):
    with tarfile.open(mirror / "collectionandqueries.tar.gz", "w:gz") as archive:
        for path in sorted((FIXTURES / "msmarco").iterdir()):
            archive.add(path, arcname=path.name)
    corpus = load_corpus("msmarco")
    check_msmarco(corpus)
    assert corpus.provenance["files"][0]["name"] == "collectionandqueries.tar.gz"
    assert cache_files(tmp_path) == []


# ----------------------------------------------------------------------------------------------- downloads


class _Server:
    """A throwaway HTTP server on 127.0.0.1 serving ``routes`` (path -> (bytes, declared length))."""

    def __init__(self, routes: dict[str, tuple[bytes, int]]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path not in routes:
                    self.send_error(404)
                    return
                body, length = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_then_caches(tmp_path):
    good = beir_zip(tmp_path / "good.zip", "scifact").read_bytes()
    truncated_gz = gzip.compress(b"x" * 5000)[:-30]
    routes = {
        "/ok/scifact.zip": (good, len(good)),
        "/short/cut.zip": (good[: len(good) // 2], len(good)),  # server promises more than it sends
        "/junk/junk.zip": (b"not a zip at all", 16),
        "/gz/data.json.gz": (truncated_gz, len(truncated_gz)),
    }
    with _Server(routes) as server:
        path = download.fetch(server.base + "/ok/scifact.zip")
        assert path == download.downloads_dir() / "scifact.zip" and path.read_bytes() == good
        with pytest.raises(DatasetError, match="truncated or corrupt|broke off"):
            download.fetch(server.base + "/short/cut.zip")
        with pytest.raises(DatasetError, match=r"junk\.zip is truncated or corrupt"):
            download.fetch(server.base + "/junk/junk.zip")
        with pytest.raises(DatasetError, match=r"data\.json\.gz is truncated or corrupt"):
            download.fetch(server.base + "/gz/data.json.gz")
        with pytest.raises(DatasetError, match="upstream sha256"):
            download.fetch(server.base + "/ok/scifact.zip", sha256="0" * 64)  # the cached copy is checked too
        with pytest.raises(DatasetError, match="cannot download .*HTTP Error 404|cannot download .*Not Found"):
            download.fetch(server.base + "/missing/x.zip")
    assert sorted(p.name for p in cache_files(tmp_path)) == ["scifact.zip"]  # no partial files left behind
    assert download.fetch("http://127.0.0.1:9/ok/scifact.zip") == path  # cached: no network needed any more


def test_mirror_wins_over_cache(mirror):
    (mirror / "a.zip").write_bytes(b"from the mirror")
    assert download.fetch("http://127.0.0.1:9/x/a.zip") == mirror / "a.zip"
    assert download.where(mirror / "a.zip") == "mirror"
    with pytest.raises(DatasetError, match="bytes, upstream has 3"):
        download.fetch("http://127.0.0.1:9/x/a.zip", expected_size=3)


# ----------------------------------------------------------------------------------------------- DPR answers


def test_tokenize_like_dpr():
    assert tokenize("The U.S. Army's 1,000 men") == "the u . s . army ' s 1 , 000 men".split()
    assert tokenize("Jay-Z\n\tand\u00a0Beyoncé") == ["jay", "-", "z", "and", unicodedata.normalize("NFD", "beyoncé")]
    assert tokenize("") == [] and tokenize(" \u200b ") == []  # separators and format characters are no tokens


@pytest.mark.parametrize(
    ("answers", "text", "expected"),
    [
        (["Linda Davis"], "Does He Love You is a duet with Linda Davis.", True),
        (["linda davis"], "A DUET WITH LINDA DAVIS", True),  # case-insensitive
        (["Linda\nDavis"], "with Linda   Davis", True),  # white space does not matter
        (["Dav"], "with Linda Davis", False),  # whole tokens only
        (["U.S."], "the U.S. Army", True),
        (["U.S."], "the US Army", False),  # punctuation is part of the token sequence
        (["Jay-Z"], "Jay-Z's album", True),
        (["Jay-Z"], "Jay Z's album", False),
        (["1,000"], "about 1000 men", False),
        (["Röntgen"], "Wilhelm Ro\u0308ntgen won", True),  # NFC answer, NFD passage: NFD on both sides
        (["Rontgen"], "Wilhelm Röntgen won", False),  # accents are kept, not stripped
        (["ÉCOLE"], "une école", True),
        (["May 18 , 2018"], "released on May 18, 2018.", True),  # NQ's spaced answers still match
        (["nothing", "Aaron"], "Aaron's rod", True),  # any answer
        ([], "anything", False),
        ([""], "anything", True),  # DPR quirk, kept: an empty answer matches every passage
    ],
)
def test_has_answer_hand_cases(answers, text, expected):
    assert has_answer(answers, text) is expected


def test_answer_accuracy_counts_every_query():
    texts = [["a b", "c d", "Paris is here"], ["nothing"], []]
    answers = [["Paris"], ["Paris"], ["Paris"]]
    assert answer_hit_ranks(texts, answers) == [3, None, None]
    assert answer_accuracy(texts, answers, k=2) == 0
    assert answer_accuracy(texts, answers, k=20) == pytest.approx(1 / 3)
    assert answer_accuracy([], [], k=20) == 0.0
    with pytest.raises(ValueError):
        answer_accuracy(texts, answers[:2], k=20)


def test_nq_dataset_is_built_by_name_and_scored_with_answer_accuracy(dpr_mirror, offline, workspace):
    """`nq-toy`: the DPR dev split (gold passages as qrels, and answers), as the seed benchmarks NQ, encoded by the
    toy encoder; acc@k matches DPR's rule and the task metrics apply."""
    import dataclasses

    import numpy as np

    from topobench.core.errors import ConfigError
    from topobench.datasets.store import load_dataset
    from topobench.metrics.registry import evaluate
    from topobench.report.export import load_points
    from topobench.runs.results import iter_results
    from topobench.runs.runner import RunConfig, run_sweep

    ds = load_dataset("nq-toy")
    assert ds.attrs["corpus"] == "nq" and ds.attrs["split"] == "dev" and ds.has_qrels
    (workspace / "algos.yaml").write_text("float:\n  any:\n    flat:\n      args: []\n")
    with pytest.raises(ConfigError, match="--count 20 is more than the 8 neighbours"):  # 8 documents: 12 of padding
        run_sweep(RunConfig(dataset="nq-toy", count=20, runs=1, definitions_file=workspace / "algos.yaml"), ["flat"])
    run_sweep(RunConfig(dataset="nq-toy", count=8, runs=1, definitions_file=workspace / "algos.yaml"), ["flat"])
    (point,) = load_points("nq-toy", count=8)
    assert point.values["acc@20"] is None  # needs count >= 20
    (result,) = iter_results("nq-toy", count=8)
    # The same ranking as a count-20 result (every document, then padding), scored by the registry.
    pad = ((0, 0), (0, 12))
    padded = dataclasses.replace(result, count=20, neighbors=np.pad(result.neighbors, pad, constant_values=-1),
                                 distances=np.pad(result.distances, pad, constant_values=np.inf))
    values = evaluate(ds, padded, ["acc@20", "acc@100", "ndcg@10"])
    corpus = load_corpus("nq", splits=["dev"])
    texts = [[corpus.docs[ds.doc_ids[row]].text for row in rows if row >= 0] for rows in result.neighbors]
    answers = [corpus.answers["dev"][q] for q in ds.query_ids]
    assert values["acc@20"] == pytest.approx(answer_accuracy(texts, answers, k=20))
    assert values["acc@100"] is None and values["ndcg@10"] is not None


def test_pool_dataset_is_built_by_name(dpr_mirror, offline, workspace):
    from topobench.datasets.store import load_dataset

    ds = load_dataset("nq-pool6-toy")
    assert len(ds.train) == 6 and ds.attrs["corpus"] == "nq-pool6" and ds.attrs["split"] == "dev" and ds.has_qrels
    assert {"2", "3", "4"} <= set(ds.doc_ids)  # the dev questions' gold passages are in the pool
