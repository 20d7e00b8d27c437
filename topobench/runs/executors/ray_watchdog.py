"""The watchdog of a local Ray runtime: stops the runtime's processes when the driver that started it dies.

``ray.init()`` without an address starts a runtime (GCS, raylet, dashboard, log monitor, agents, workers) as the
driver's children. When the driver is killed (``kill -9`` of ``run.py``) most of them notice within a second, but the
raylet's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) go on for about a minute. The Ray executor starts
this script (standard library only, run by its path in an isolated interpreter) before ``ray.init``; it waits for
either of:

- the driver's exit (a pidfd of its parent, or, without pidfds, its parent changing);
- end of file on its standard input, which the driver closes after ``ray.shutdown()`` (a normal stop).

Each line read on its standard input before that is a session folder of the runtime (``/tmp/ray/session_…``). Then it
stops every process of that runtime: one whose environment carries ``MARK=<token>`` (the driver set it for
``ray.init``: the GCS, the raylet and the workers inherit it) or that holds a file of a session folder open or names
it on its command line (the agents, whose environment ``setproctitle`` overwrites). SIGTERM first, SIGKILL after
``GRACE`` seconds. Only processes of this one runtime match: never a cluster named by ``--ray-address`` (no watchdog
is started for one), never another runtime of the machine (its own session folder and token).

Usage: ``python -I ray_watchdog.py DRIVER_PID TOKEN``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
from pathlib import Path

logger = logging.getLogger("topobench.runs.executors.ray_watchdog")

MARK = "TOPOBENCH_RAY_RUNTIME"  # environment variable set for ray.init: its value is the runtime's token
GRACE = 3.0  # seconds between SIGTERM and SIGKILL
GIVE_UP = 30.0  # seconds after which the watchdog stops looking (anything left is reported)
POLL = 0.1
PARENT_POLL = 1.0  # seconds between checks of the parent where pidfds are missing


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _links(pid: int) -> list[str]:
    """The paths a process has open, and its working folder."""
    found = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        fds = []
    for name in [*(f"fd/{fd}" for fd in fds), "cwd"]:
        try:
            found.append(os.readlink(f"/proc/{pid}/{name}"))
        except OSError:
            continue
    return found


def session_of(path: str) -> str | None:
    """The Ray session folder a path lies in (``…/session_<date>_<pid>``), or None."""
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if part.startswith("session_") and part != "session_latest":
            return str(Path(*parts[: i + 1]))
    return None


def runtime_processes(token: str, sessions: set[str], driver: int) -> list[int]:
    """The live processes of this runtime, other than the driver (which holds files of the session too); adds the
    session folders the marked ones use to ``sessions``."""
    needle = f"{MARK}={token}".encode()
    spared = (os.getpid(), driver)
    marked, others = [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared:
            continue
        pid = int(entry)
        stat = _read(f"/proc/{pid}/stat")
        if not stat or stat.rsplit(b")", 1)[-1].split()[:1] in ([b"Z"], [b"X"]):
            continue  # gone, or a zombie waiting for its reaper
        if needle in _read(f"/proc/{pid}/environ").split(b"\0"):
            marked.append(pid)
            sessions.update(s for s in map(session_of, _links(pid)) if s)
        else:
            others.append(pid)
    if not sessions:
        return marked
    prefixes = tuple(s.rstrip("/") + "/" for s in sessions)
    return marked + [pid for pid in others
                     if any(link.startswith(prefixes) for link in _links(pid))
                     or any(p.encode() in _read(f"/proc/{pid}/cmdline") for p in prefixes)]


def stop_runtime(token: str, sessions: set[str], driver: int) -> int:
    """SIGTERM every process of the runtime, SIGKILL what is left after ``GRACE`` s; the number signalled."""
    start = time.monotonic()
    signalled: set[int] = set()
    while True:
        pids = runtime_processes(token, sessions, driver)
        if not pids:
            return len(signalled)
        elapsed = time.monotonic() - start
        if elapsed > GIVE_UP:
            logger.error("processes %s of the Ray runtime are still running after %g s", pids, GIVE_UP)
            return len(signalled)
        kill = elapsed > GRACE
        for pid in pids:
            if kill or pid not in signalled:
                try:
                    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
                except OSError:
                    continue
                signalled.add(pid)
        time.sleep(POLL)


def wait_for_driver(driver: int, sessions: set[str]) -> bool:
    """Block until the driver exits (True) or closes our standard input (False); record the session lines."""
    try:
        pidfd = os.pidfd_open(driver)
    except (AttributeError, OSError):
        pidfd = None
    if os.getppid() != driver:  # the driver died before the pidfd was open
        return True
    stdin = sys.stdin.fileno()
    watched = [stdin] if pidfd is None else [stdin, pidfd]
    while True:
        ready, _, _ = select.select(watched, [], [], PARENT_POLL if pidfd is None else None)
        if pidfd is not None and pidfd in ready or pidfd is None and os.getppid() != driver:
            return True
        if stdin in ready:
            line = os.read(stdin, 4096)
            if not line:
                return False
            sessions.update(s for s in line.decode(errors="replace").splitlines() if s.strip())


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    driver, token = int(argv[0]), argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the driver's terminal: clean up all the same
    sessions: set[str] = set()
    died = wait_for_driver(driver, sessions)
    count = stop_runtime(token, sessions, driver)
    if died and count:
        logger.warning("the driver (pid %d) died: stopped %d processes of its local Ray runtime", driver, count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
