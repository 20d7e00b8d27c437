"""The arithmetic profiles (issue 23): exact reproduces bit for bit, fast (bf16) is recorded, bounded and never mixed.

Cosine bounds, measured on the tiny BERT and stated here: bf16 autocast keeps every vector within cosine 0.999 of
float32 (MiniLM on SciFact: ≥ 0.99998), per-channel int8 within 0.95 (MiniLM: ≥ 0.969). A bf16 training step's
gradient points the same way as float32's (cosine ≥ 0.99).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_study import workspace  # noqa: F401 - the tiny study's fixture
from training_fixtures import write_tiny_bert

from topobench.cli.study import study_main
from topobench.core.encoders import EncoderError
from topobench.core.errors import ConfigError, DatasetError
from topobench.core.registry import get_registry
from topobench.datasets.store import load_dataset
from topobench.study.analysis import StudyDataError, analyse
from topobench.study.cells import read_cell
from topobench.study.fidelity import AGREE, DIFFER, fidelity_rows, fidelity_section
from topobench.study.report import read_cells
from topobench.study.spec import get_study
from topobench.training.variants import parse_variant

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TEXTS = [f"document {i} about topic {i % 7} with words {' '.join(str(j) for j in range(i % 23))}" for i in range(40)]
# Timing-like keys; a "frontier" is the recall–QPS Pareto frontier, whose very points depend on the timings.
TIMINGS = ("qps", "seconds", "created", "load", "speedup", "time", "remeasured", "frontier", "latency")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny") / "model")


def encoder(model: Path, **options):
    return get_registry().create("encoders", "minilm", check_available=False, checkpoint=model, max_length=64,
                                 batch_size=8, device="cpu", progress=False, **options)


def test_exact_configurations_keep_their_fingerprint_and_fast_ones_get_their_own():
    exact = parse_variant("scifact-minilm-topo@weight=0.0").config()
    assert "profile" not in exact.to_dict() and exact.profile == "exact"
    assert exact.fingerprint() == "5b9a8845b90f"  # the committed w = 0 seed 13 run: checkpoints stay addressable
    spelt = parse_variant("scifact-minilm-topo@profile=exact,weight=0.0")
    assert spelt.name == "scifact-minilm-topo@weight=0.0" and spelt.config().fingerprint() == exact.fingerprint()
    fast = parse_variant("scifact-minilm-topo@weight=0.0,profile=fast")
    assert fast.name == "scifact-minilm-topo@profile=fast,weight=0.0"
    assert fast.config().to_dict()["profile"] == "fast" and fast.config().fingerprint() != exact.fingerprint()
    with pytest.raises(DatasetError, match="profile 'quick' is not one of exact, fast"):
        parse_variant("scifact-minilm-topo@profile=quick").config()


def test_bf16_and_int8_encodings_stay_within_their_stated_cosines(tiny_model):
    full = encoder(tiny_model).encode(TEXTS)
    bf16_encoder = encoder(tiny_model, precision="bf16")
    bf16 = bf16_encoder.encode(TEXTS)
    int8 = encoder(tiny_model, quantize="int8").encode(TEXTS)
    assert full.dtype == bf16.dtype == np.float32 and bf16.shape == full.shape
    assert not np.array_equal(bf16, full)  # bf16 really ran
    assert np.sum(bf16 * full, axis=1).min() >= 0.999
    assert np.sum(int8 * full, axis=1).min() >= 0.95
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)  # normalised in float32
    assert bf16_encoder.provenance()["precision"] == "bf16" and "precision" not in encoder(tiny_model).provenance()
    assert next(bf16_encoder.torch_module().parameters()).dtype == torch.float32  # weights stay float32


def test_bad_precisions_are_one_line(tiny_model):
    with pytest.raises(EncoderError, match="precision='fp8' is not one of"):
        encoder(tiny_model, precision="fp8")
    with pytest.raises(EncoderError, match="exclude each other"):
        encoder(tiny_model, precision="bf16", quantize="int8")


def test_a_bf16_training_step_follows_the_float32_gradient(tiny_model):
    grads = {}
    for precision in ("float32", "bf16"):
        enc = encoder(tiny_model, precision=precision)
        module = enc.torch_module()
        module.eval()  # no dropout: the two steps differ by their arithmetic only
        q, d = enc.forward(TEXTS[:8], "query"), enc.forward(TEXTS[8:16], "doc")
        assert q.dtype == torch.float32
        torch.nn.functional.cross_entropy(q @ d.T / 0.05, torch.arange(8)).backward()
        grads[precision] = torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])
    assert grads["bf16"].dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(grads["bf16"], grads["float32"], dim=0) >= 0.99


def _without_timings(value):
    """``value`` with every timing-like entry removed (QPS, seconds, load, dates): what a rerun must reproduce."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not any(t in k for t in TIMINGS)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_the_exact_profile_reproduces_a_cell_except_its_timings(workspace, capsys, monkeypatch):  # noqa: F811
    studies = str(workspace / "studies.yaml")
    first = get_study("tiny-sweep", workspace / "studies.yaml").cells[0].name
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first]) == 0
    before = read_cell(workspace / "studies" / "tiny-sweep" / "cells" / f"{first}.json")
    for folder in ("checkpoints", "datasets", "results"):  # nothing to reuse: trained, encoded, benchmarked anew
        monkeypatch.setenv(f"TOPOBENCH_{folder.upper()}", str(workspace / f"{folder}-again"))
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(workspace / "studies-again"))
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first]) == 0
    after = read_cell(workspace / "studies-again" / "tiny-sweep" / "cells" / f"{first}.json")
    assert "profile" not in after and "profile" not in after["config"]
    # The trained weights and the dataset's vectors: bit for bit.
    name = f"{before['dataset']}.hdf5"
    with h5py.File(workspace / "datasets" / name) as one, h5py.File(workspace / "datasets-again" / name) as two:
        for key in ("train", "test", "neighbors"):
            assert np.array_equal(one[key][()], two[key][()]), key
    # The cell: everything but timings, and but the HNSW graph's counters (faiss builds the graph on several threads,
    # so its shape, hence distance computations and hops, may differ between two builds of the same vectors).
    for cell in (before, after):
        cell["algorithms"].pop("hnsw")
    assert _differences(_without_timings(after), _without_timings(before)) == []


def _differences(a, b, path: str = "") -> list[str]:
    """The paths where ``a`` and ``b`` differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:80]} != {str(b)[:80]}"]


FAST_STUDY = """
tiny-fast:
  corpus: synthetic
  encoders: [minilm]
  variants: ["tiny@profile=fast"]
  grid: {{weight: [0.0, 1.0]}}
  seeds: [1]
  baseline: {{weight: 0.0}}
  algorithms: [flat, hnsw]
  count: 10
  runs: 1
  definitions: {algos}
  fidelity_of: tiny-sweep
tiny-mixed:
  corpus: synthetic
  encoders: [minilm]
  variants: [tiny, "tiny@profile=fast"]
  seeds: [1]
  algorithms: [flat]
  definitions: {algos}
"""


def test_fast_cells_carry_their_profile_and_are_never_compared_with_exact_ones(workspace, capsys):  # noqa: F811
    studies = workspace / "studies.yaml"
    studies.write_text(studies.read_text() + FAST_STUDY.format(algos=workspace / "algos.yaml"))
    with pytest.raises(ConfigError, match="mixes the profiles exact .* and fast"):
        get_study("tiny-mixed", studies)
    assert study_main(["-q", "--studies", str(studies), "run", "tiny-mixed"]) == 2
    assert "mixes the profiles" in capsys.readouterr().err
    assert not (workspace / "studies" / "tiny-mixed").exists()

    study = get_study("tiny-fast", studies)
    assert study.profile == "fast" and study.summary_spec()["fidelity_of"] == "tiny-sweep"
    first = study.cells[0]
    assert study_main(["-q", "--studies", str(studies), "run", "tiny-fast", "--cells", first.name]) == 0
    cell = read_cell(workspace / "studies" / "tiny-fast" / "cells" / f"{first.name}.json")
    assert cell["profile"] == "fast" and cell["config"]["profile"] == "fast"
    assert cell["fingerprint"] == first.variant.config().fingerprint()
    dataset = load_dataset(first.dataset)
    assert dataset.attrs["training_profile"] == "fast" and dataset.attrs["encoder_precision"] == "bf16"
    assert dataset.train.dtype == np.float32

    exact = copy.deepcopy(cell)
    del exact["profile"]
    exact["seed"] = 2
    with pytest.raises(StudyDataError, match="mix the arithmetic profiles exact and fast"):
        analyse([cell, exact], None, ["weight"])
    # The fast study's report holds the fidelity section (no exact cells yet: it says what to run).
    assert study_main(["-q", "--studies", str(studies), "report", "tiny-fast"]) == 0
    report = (workspace / "studies" / "tiny-fast" / "report" / "report.md").read_text()
    assert "## Fidelity: tiny-fast against tiny-sweep" in report and "run more cells" in report


W_SWEEP = Path(__file__).resolve().parent.parent / "studies" / "w-sweep" / "cells"
HNSW = "hnsw distcomps"
FACTORS = ["encoder", "variant", "weight"]
RESAMPLES = 500  # the fidelity rows are t intervals over seeds; the bootstraps over queries need no precision here


def _as_fast(cells, shift: float, weight: float):
    """The committed w-sweep cells as a fast study's: relabelled, and ``shift`` added to the hnsw distance
    computations at k-NN 0.95 of the cells of ``weight``."""
    out = []
    for c in copy.deepcopy(cells):
        c["profile"], c["study"] = "fast", "w-fast"
        c["factors"]["variant"] = "topo@profile=fast"
        if c["factors"]["weight"] == weight:
            c["algorithms"]["hnsw"]["at_knn"]["0.95"]["distcomps"] += shift
        out.append(c)
    return out


def test_fidelity_rows_recover_a_known_shift_of_one_effect():
    exact_cells = [c for c in read_cells(W_SWEEP) if c["factors"]["weight"] in (0.0, 0.6, 1.0)]
    assert len(exact_cells) == 9
    exact = analyse(exact_cells, {"weight": 0.0}, FACTORS, resamples=RESAMPLES)
    same = analyse(_as_fast(exact_cells, 0.0, 0.6), {"weight": 0.0}, FACTORS, resamples=RESAMPLES)
    rows = fidelity_rows(same, exact)
    assert {r.variant.split()[-1] for r in rows} == {"weight=0.6", "weight=1.0"}
    assert all(r.delta.mean == pytest.approx(0.0, abs=1e-9) and r.agreement == AGREE for r in rows)
    assert all(r.seeds == (13, 14, 15) for r in rows)

    shifted = analyse(_as_fast(exact_cells, 500.0, 0.6), {"weight": 0.0}, FACTORS, resamples=RESAMPLES)
    row = next(r for r in fidelity_rows(shifted, exact) if r.measure.key == HNSW and r.variant.endswith("weight=0.6"))
    assert row.delta.mean == pytest.approx(500.0) and row.delta.half_width == pytest.approx(0.0, abs=1e-6)
    assert row.fast.diff.mean == pytest.approx(row.exact.diff.mean + 500.0)
    e, f = row.exact.diff, row.fast.diff  # same: both unresolved, or both resolved with one sign
    assert row.agreement == (AGREE if e.resolved == f.resolved and (not e.resolved or (e.mean > 0) == (f.mean > 0))
                             else DIFFER)
    shifted_rows = fidelity_rows(shifted, exact)
    text = fidelity_section(shifted_rows, "w-fast", "w-sweep").markdown()
    assert "## Fidelity: w-fast against w-sweep" in text
    assert (f"resolved after Holm's correction over the {len(shifted_rows)} rows for: hnsw distcomps@0.95 "
            "(topo weight=0.6).") in text
    assert json.dumps(text)  # plain text only


def test_a_collection_is_tokenised_once_and_encodes_to_the_same_vectors(tiny_model, monkeypatch):
    enc = encoder(tiny_model)
    calls = []
    original = enc.token_ids
    monkeypatch.setattr(enc, "token_ids", lambda texts, kind: calls.append(kind) or original(texts, kind))
    first = enc.encode(TEXTS)
    assert np.array_equal(enc.encode(list(TEXTS)), first) and calls == ["doc"]  # same texts: ids reused
    enc.encode(TEXTS, "query")
    enc.max_length = 32
    enc.encode(TEXTS)
    assert calls == ["doc", "query", "doc"]  # another kind or token limit is tokenised anew
