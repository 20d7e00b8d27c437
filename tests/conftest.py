"""Shared fixtures: an isolated workspace (datasets/, results/, test plugins) and a tiny dataset in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TEST_PLUGIN_DIRS, write_tiny_dataset

from topobench.core.registry import get_registry


@pytest.fixture(autouse=True, scope="session")
def no_checkout_studies(tmp_path_factory: pytest.TempPathFactory):
    """No test reads or writes the checkout's committed studies/ (the published cell files): every test sees an empty
    studies folder unless it sets its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOPOBENCH_STUDIES", str(tmp_path_factory.mktemp("no-studies")))
        yield


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """datasets/, results/ and studies/ under tmp_path, the test plugins loaded, and a fresh registry."""
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(tmp_path / "studies"))  # not the checkout's committed studies/
    monkeypatch.setenv("TOPOBENCH_PLUGIN_DIRS", TEST_PLUGIN_DIRS)
    get_registry.cache_clear()
    yield tmp_path
    get_registry.cache_clear()

@pytest.fixture
def tiny_dataset(workspace: Path) -> str:
    write_tiny_dataset(workspace / "datasets")
    return "tiny-16-euclidean"
