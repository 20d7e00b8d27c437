"""A process's fault-signal handlers survive Ray's calls (``topobench.core.signal_handlers``).

The failure this guards against was a CI run that died with "Segmentation fault" in ``test_miners.py``: the test
process had started its JVM (``test_bm25.py``), then a Ray executor test called ``ray.shutdown``, which resets
SIGSEGV to its default, so the JVM's next safepoint poll in compiled code killed the process. The last test here
reproduces that sequence in a fresh interpreter (without the fix it dies with signal 11 every time here).
"""

from __future__ import annotations

import signal

import pytest
from helpers import fresh_python

from topobench.core.signal_handlers import handler_addresses, kept_fault_handlers


def test_a_replaced_handler_is_put_back_also_after_an_exception():
    signum = signal.SIGUSR2
    before = handler_addresses((signum,))
    assert before, "sigaction is available on this platform"
    try:
        with pytest.raises(RuntimeError), kept_fault_handlers((signum,)):
            signal.signal(signum, lambda *_: None)
            assert handler_addresses((signum,)) != before
            raise RuntimeError("the block failed")
        assert handler_addresses((signum,)) == before
    finally:
        signal.signal(signum, signal.SIG_DFL)  # Python's own table still names the lambda


def test_the_default_set_names_the_signals_ray_replaces():
    names = {signal.Signals(s).name for s in handler_addresses()}
    assert {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGTRAP", "SIGTERM"} <= names


JVM_AFTER_RAY = """
import os, sys
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from topobench.backends.java import load_class, start_jvm
from topobench.runs.executors.ray import RayExecutor

start_jvm()
executor = RayExecutor()
executor.start()
executor.stop()
# compiled Java code on several threads with garbage collections: safepoint polls that raise SIGSEGV in the JVM
strings = load_class("java.util.ArrayList")()
for i in range(20000):
    strings.add(str(i))
random = load_class("java.util.Random")(1)
for _ in range(200):
    load_class("java.util.Collections").shuffle(strings, random)
    strings.parallelStream().sorted().distinct().count()
    random.ints(200000).parallel().sorted().sum()
print("survived")
"""


def test_the_jvm_survives_a_ray_executor_started_and_stopped_in_its_process():
    pytest.importorskip("ray")
    from topobench.backends.java import java_unavailable_reason

    reason = java_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no in-process JVM: {reason}")
    out = fresh_python(JVM_AFTER_RAY)
    assert out.returncode == 0 and out.stdout.strip().endswith("survived"), (out.returncode, out.stderr[-2000:])
