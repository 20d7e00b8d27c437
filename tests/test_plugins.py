"""The plugin manager: built-ins by path, external plugins through the real entry point, allowlist, duplicates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, TESTS, cli

from topobench.core import hookspecs
from topobench.core.errors import ConfigError, PluginError, UnavailableError, UnknownNameError
from topobench.core.registry import DECLARED_KINDS, KINDS, build_registry

BUILTIN_INDEXES = {"flat", "lsh", "pq", "ivf", "ivf_pq", "hnsw", "hnswlib"}


def test_every_hook_is_documented_and_named_for_a_kind():
    specs = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert sorted(specs) == sorted(f"register_{kind}" for kind in (*KINDS, *DECLARED_KINDS))
    for name in specs:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "register(" in doc and "Called once" in doc, name


def test_builtins_register_the_vector_indexes():
    registry = build_registry()
    assert BUILTIN_INDEXES <= set(registry.names("indexes"))
    for name in BUILTIN_INDEXES:
        assert registry.get("indexes", name).unavailable_reason() is None, name


def test_toy_plugin_registers_one_of_each_kind():
    registry = build_registry(extra_dirs=[TESTS / "plugins"])
    for kind in KINDS:
        owners = {r.plugin for r in registry.entries[kind].values()}
        assert "plugins.toy" in owners, kind
    for kind in DECLARED_KINDS:
        assert registry.declared[kind]["toy" if kind == "recipes" else "bytes_scanned"].plugin == "plugins.toy", kind


def test_unknown_name_lists_known_ones():
    registry = build_registry()
    with pytest.raises(UnknownNameError, match="unknown algorithm 'nope'.*hnsw"):
        registry.get("indexes", "nope")


def _write_plugin(folder: Path, name: str, index_name: str, body: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        "import numpy as np\n"
        "from topobench.core.hookspecs import hookimpl\n"
        "from topobench.core.indexes import Index\n"
        f"{body}\n"
        "class Mine(Index):\n"
        "    requires = ('a_module_that_does_not_exist',)\n"
        "    def fit(self, X): pass\n"
        "    def query(self, q, k): return np.arange(k)\n"
        "@hookimpl\n"
        f"def register_indexes(register):\n    register({index_name!r}, Mine)\n"
    )


def test_duplicate_name_is_an_error_naming_both_plugins(tmp_path):
    _write_plugin(tmp_path / "a", "first", "same")
    _write_plugin(tmp_path / "b", "second", "same")
    with pytest.raises(PluginError, match=r"'same' is registered twice: by plugin 'a.first' and by plugin 'b.second'"):
        build_registry(extra_dirs=[tmp_path / "a", tmp_path / "b"])


def test_missing_library_is_unavailable_and_others_still_work(tmp_path):
    _write_plugin(tmp_path / "p", "needs_lib", "needs_lib")
    _write_plugin(tmp_path / "q", "broken", "broken", body="import a_module_that_does_not_exist_either")
    registry = build_registry(extra_dirs=[tmp_path / "p", tmp_path / "q"])
    reason = registry.get("indexes", "needs_lib").unavailable_reason()
    assert reason and "a_module_that_does_not_exist" in reason
    assert "a_module_that_does_not_exist_either" in registry.plugins["q.broken"].load_error
    assert registry.get("indexes", "flat").unavailable_reason() is None


def test_create_is_the_one_way_to_construct_and_names_each_problem(tmp_path):
    _write_plugin(tmp_path / "p", "needs_lib", "needs_lib")
    registry = build_registry(extra_dirs=[tmp_path / "p", TESTS / "plugins"])
    hnsw = registry.create("indexes", "hnsw", "angular", 8, efConstruction=20)
    assert type(hnsw) is registry.get("indexes", "hnsw").cls and hnsw.args == (8, 20)
    miner = registry.create("miners", "toy", depth=3)
    assert type(miner) is registry.get("miners", "toy").cls and miner.depth == 3
    with pytest.raises(UnknownNameError, match="unknown algorithm 'nope'.*hnsw"):
        registry.create("indexes", "nope", "angular")
    with pytest.raises(UnavailableError, match="algorithm 'needs_lib' is unavailable: cannot import a_module_that"):
        registry.create("indexes", "needs_lib", "angular")
    assert type(registry.create("indexes", "needs_lib", "angular", check_available=False)).__name__ == "Mine"
    # Wrong arguments: one line naming what was given and the parameters the class takes, without constructing it.
    with pytest.raises(ConfigError, match=r"^algorithm 'hnsw' cannot be built with \('angular'\): missing a required "
                                          r"argument: 'M'; it takes \(metric, M, efConstruction=40\)$"):
        registry.create("indexes", "hnsw", "angular")
    with pytest.raises(ConfigError, match=r"miner 'toy' cannot be built with \(colour='red'\): .*'colour'; it takes "
                                          r"\(depth=10, seed=0\)"):
        registry.create("miners", "toy", colour="red")


def test_misspelt_hookimpl_fails_loudly(tmp_path):
    folder = tmp_path / "typo"
    folder.mkdir()
    (folder / "typo.py").write_text(
        "from topobench.core.hookspecs import hookimpl\n@hookimpl\ndef register_indexs(register):\n    pass\n"
    )
    with pytest.raises(Exception, match="register_indexs"):
        build_registry(extra_dirs=[folder])


@pytest.fixture(scope="module")
def installed_external_plugin(tmp_path_factory) -> Path:
    """pip-installs tests/external_plugin into a private target folder, entry point metadata included."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "external_plugin"
    shutil.copytree(TESTS / "external_plugin", source)  # pip's build leaves build/ and *.egg-info beside the source
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    assert list(target.glob("topobench_extra_plugin-*.dist-info/entry_points.txt"))
    return target


def _env_with(site: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), **extra}
    env.pop("TOPOBENCH_PLUGINS", None)
    env.update(extra)
    return env


def test_external_plugin_is_registered_through_its_entry_point(installed_external_plugin):
    result = cli("run.py", "--list", env=_env_with(installed_external_plugin))
    assert result.returncode == 0, result.stderr
    assert "extra  (entry point topobench_extra_plugin)" in result.stdout
    assert "extra_exact" in result.stdout.split("extra  (entry point")[1]


def test_allowlist_leaves_out_external_plugins(installed_external_plugin):
    result = cli("run.py", "--list", env=_env_with(installed_external_plugin, TOPOBENCH_PLUGINS=""))
    assert result.returncode == 0, result.stderr
    assert "extra_exact" not in result.stdout
    assert "hnsw" in result.stdout
    result = cli("run.py", "--list", env=_env_with(installed_external_plugin, TOPOBENCH_PLUGINS="extra"))
    assert "extra_exact" in result.stdout


def test_external_plugin_runs_a_sweep(installed_external_plugin, tmp_path):
    from helpers import write_tiny_dataset

    write_tiny_dataset(tmp_path / "datasets")
    algos = tmp_path / "algos.yaml"
    algos.write_text("float:\n  any:\n    extra_exact:\n      args: []\n")
    env = _env_with(installed_external_plugin, TOPOBENCH_DATASETS=str(tmp_path / "datasets"),
                    TOPOBENCH_RESULTS=str(tmp_path / "results"))
    result = cli("run.py", "--dataset", "tiny-16-euclidean", "--algorithm", "extra_exact", "--runs", "1",
                 "--definitions", str(algos), env=env)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "results" / "tiny-16-euclidean" / "10" / "extra_exact").glob("*.hdf5"))
