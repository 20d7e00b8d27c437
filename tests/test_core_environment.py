"""core.environment.temporary_environ: variables set for a while and put back, also after an error."""

from __future__ import annotations

import os

import pytest

from topobench.core.environment import temporary_environ


def test_variables_are_set_inside_and_restored_or_removed_after(monkeypatch):
    monkeypatch.setenv("TOPOBENCH_TEST_KEPT", "before")
    monkeypatch.delenv("TOPOBENCH_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError), temporary_environ({"TOPOBENCH_TEST_KEPT": "inside", "TOPOBENCH_TEST_NEW": "x"}):
        assert os.environ["TOPOBENCH_TEST_KEPT"] == "inside" and os.environ["TOPOBENCH_TEST_NEW"] == "x"
        raise RuntimeError("the unit failed")
    assert os.environ["TOPOBENCH_TEST_KEPT"] == "before" and "TOPOBENCH_TEST_NEW" not in os.environ
