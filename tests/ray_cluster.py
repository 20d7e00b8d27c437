"""A real Ray cluster on this machine for the executor tests: a head and worker nodes on 127.0.0.1, each a
``ray start --block`` process in its own session, stopped by process id at the end (never ``ray stop``, which would
end every Ray process of the machine)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
START_SECONDS = 90  # a node that has not joined by then fails the fixture
STOP_SECONDS = 30  # after SIGTERM, then SIGKILL to the node's whole process group


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the node's ``ray start --block`` (it then shuts its Ray processes down), SIGKILL its process group if
    that hangs or left anything behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # workers left behind in the node's session
    except ProcessLookupError:
        pass
    process.wait()


def _alive_nodes(address: str) -> int:
    """Nodes joined (connecting with the executor's authentication, as run.py does)."""
    import ray

    from topobench.core.signal_handlers import kept_fault_handlers
    from topobench.runs.executors.ray import use_cluster_token

    use_cluster_token()
    with kept_fault_handlers():  # as the executor does: Ray would otherwise reset this process's fault handlers
        ray.init(address=address, logging_level="ERROR", include_dashboard=False)
        try:
            return sum(1 for n in ray.nodes() if n.get("Alive"))
        finally:
            ray.shutdown()


@contextmanager
def ray_cluster(cpus: list[int], log_dir: Path) -> Iterator[str]:
    """Start a head with ``cpus[0]`` CPUs and a node per further entry, on 127.0.0.1; yield the head's address."""
    # Token authentication on every node (Ray turns it on for a head when ~/.ray/auth_token exists, which any local
    # ray.init creates, but never for a node joining by address: that node would then be refused).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    port = free_port()
    address = f"127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    nodes: list[subprocess.Popen] = []
    try:
        for i, n in enumerate(cpus):
            if i == 0:
                args = ["--head", f"--port={port}", "--include-dashboard=false", "--disable-usage-stats"]
            else:
                args = [f"--address={address}"]
            log = open(log_dir / f"node{i}.log", "w")  # noqa: SIM115 - kept open for the node's lifetime
            nodes.append(subprocess.Popen([str(RAY), "start", "--block", "--node-ip-address=127.0.0.1",
                                           f"--num-cpus={n}", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
            log.close()
            deadline = time.monotonic() + START_SECONDS
            if i == 0:
                while True:  # the head's GCS port accepts connections
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if nodes[0].poll() is not None or time.monotonic() > deadline:
                            log = (log_dir / "node0.log").read_text()
                            raise RuntimeError(f"the Ray head did not start: {log}") from None
                        time.sleep(0.5)
        deadline = time.monotonic() + START_SECONDS
        while _alive_nodes(address) < len(cpus):
            if time.monotonic() > deadline or any(p.poll() is not None for p in nodes):
                raise RuntimeError(f"the Ray nodes did not all join; logs in {log_dir}")
            time.sleep(1)
        yield address
    finally:
        for process in reversed(nodes):
            _stop(process)
