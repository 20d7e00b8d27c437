"""The Ray executor: each unit of work is a Ray task on a cluster (``run.py --executor ray [--ray-address ADDR]``).

Without an address a local Ray runtime is started on this machine for the sweep and stopped after it (and by its
watchdog, ``ray_watchdog.py``, when the driver is killed); with one, the driver connects to that cluster (``ray start
--head …`` on one machine, ``ray start --address=…`` on the others) and leaves it running. Every node must have
topobench (and the plugins' libraries) installed in the Python that runs Ray; nothing else is shared:

- **the dataset travels with the work**: the driver puts the dataset file into Ray's object store once per sweep and
  each node keeps one copy in its temporary folder, keyed by the file's sha256 (a file over ``SHIP_LIMIT`` is not
  shipped: the nodes must then see it at the driver's path);
- **results travel back**: the task spawns a child process, as the local executor does, that builds the index once
  and measures each pending point with the ``unit_run.run_definition`` into a scratch results folder on the
  worker; the task streams each result file's bytes back as soon as it is written (a Ray generator task) and the
  driver writes them at their place (temporary name, then rename), so a point finished before a timeout or a crash is
  kept;
- **same failures as local**: ``--timeout`` counts from the moment the task starts on its worker and then cancels it
  (force: the worker process is killed, and the child with it) and records ``timeout: …``; a measuring child that
  dies (``os._exit``, a segfault) is recorded as ``crashed: exit code …`` / ``killed by signal …`` exactly as locally,
  a Ray worker that dies (Ray's OOM killer, a lost node) as ``crashed: the Ray worker died …``; an exception as
  ``error: …`` with its traceback. Tasks are never retried (``max_retries=0``), so a crash is reported, not repeated;
- **same measurement**: the measuring process is a fresh interpreter as locally (the Ray worker's own ~100 MB stay out
  of the peak-memory figures); a single-query unit asks for one CPU (Ray then sets ``OMP_NUM_THREADS=1``, so the build
  runs on that one CPU, and the timing loop sets the index to one thread, as locally); a ``--batch`` unit asks for all
  the CPUs of the largest node, so a batch measurement has its node to itself.

Units run concurrently, as many as the cluster's CPUs allow. Environment variables named ``TOPOBENCH_*`` and ``HF_*``
(plugin folders, corpus cache and mirror, the model cache) are passed to the workers, except ``TOPOBENCH_RESULTS`` and
``TOPOBENCH_DATASETS``, which the worker sets to its scratch folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import socket
import sys
import tempfile
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.environment import temporary_environ
from topobench.core.errors import ConfigError
from topobench.core.registry import get_registry
from topobench.core.signal_handlers import kept_fault_handlers
from topobench.datasets.store import DATA_DIR_ENV, dataset_path
from topobench.runs import results as res
from topobench.runs.executors.base import Executor, Outcome, Unit, failure_status, now, record_failures
from topobench.runs.executors.ray_runtime import Watchdog, start_watchdog
from topobench.runs.executors.ray_watchdog import MARK

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = "install the extra: pip install 'topobench[ray]' (ray[default]==2.60.0)"
SHIP_LIMIT = 1 << 30  # dataset files up to 1 GiB go through the object store; larger ones must be on every node
CONNECT_TIMEOUT = 10.0  # seconds to reach --ray-address before calling it unreachable
PASSED_ENV = re.compile(r"(TOPOBENCH_|HF_)")
WORKER_SET_ENV = (res.RESULTS_DIR_ENV, DATA_DIR_ENV)
CHILD_POLL = 1.0  # seconds between checks that the measuring child is alive while it has nothing to announce


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor ray needs Ray, which is not installed ({exc}): {RAY_INSTALL_HINT}") from exc
    return ray


def check_reachable(address: str) -> None:
    """Refuse an address whose head cannot be reached (a TCP connection to its GCS port), before Ray tries for
    minutes. ``auto`` and ``ray://`` addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not HOST:PORT (e.g. 127.0.0.1:6379, the address "
                          "`ray start --head` printed)")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start one there with "
                          f"`ray start --head --port={port}`, or give the address `ray start --head` printed with "
                          "--ray-address (leave it out to run on a local Ray runtime)") from exc


def use_cluster_token() -> None:
    """Authenticate to a cluster as ``ray start`` does: in token mode when a token is at hand (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) and ``RAY_AUTH_MODE`` is not set. A plain ``ray.init(address)``
    connects without it and is refused by a cluster that ``ray start`` put in token mode. Ray 2.60's own function
    (what ``ray start`` calls; it also refreshes Ray's cached configuration)."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: its ray.init decides
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def worker_env() -> dict[str, str]:
    """The driver's environment variables the workers need (plugin folders, caches), without the folders the worker
    sets itself."""
    return {k: v for k, v in os.environ.items() if PASSED_ENV.match(k) and k not in WORKER_SET_ENV}


@dataclass(frozen=True)
class DatasetShipment:
    """How a worker gets the sweep's dataset file: from the object store (``ref``) or at the driver's ``path``."""

    name: str
    sha256: str
    ref: Any = None  # a ray.ObjectRef of the file's bytes, or None when the nodes read ``path``
    path: str = ""


class RayExecutor(Executor):
    """Units as Ray tasks on a cluster (``address``) or on a local Ray runtime started for the sweep."""

    name = "ray"
    runs_calls = True

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._ray: Any = None
        self._shipments: dict[str, DatasetShipment] = {}
        self._watchdog: Watchdog | None = None

    # --- lifetime ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the cluster (or start a local runtime) and check it has a CPU to run on."""
        ray = import_ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.address:
            check_reachable(self.address)
            use_cluster_token()
        options: dict[str, Any] = {"runtime_env": {"env_vars": worker_env()}, "logging_level": logging.WARNING,
                                   "include_dashboard": False}
        try:
            # kept_fault_handlers: Ray's own handlers would otherwise replace (and ray.shutdown reset) the JVM's
            if self.address:
                with kept_fault_handlers():
                    ray.init(address=self.address, **options)
            else:
                # "local": always a new runtime, never a cluster that `ray start` left registered on this machine;
                # its processes carry the watchdog's token, which stops them if this driver is killed
                self._watchdog = start_watchdog()
                with temporary_environ({MARK: self._watchdog.token}), kept_fault_handlers():
                    context = ray.init(address="local", num_cpus=os.cpu_count() or 1, **options)
                self._watchdog.watch(context.address_info.get("session_dir", ""))
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self._stop_watchdog()
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray runtime"
            cause = f"{exc}\n{exc.__cause__ or ''}"
            if "InvalidAuthToken" in cause or "Authentication" in cause:
                raise ConfigError(f"the Ray cluster at {self.address} refused this driver's authentication token: "
                                  "give it the cluster's token (RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH; "
                                  "`ray get-auth-token` on the head prints it)") from exc
            raise ConfigError(f"cannot start the Ray executor on {where}: {str(exc).splitlines()[0]} (check "
                              "`ray status` there; leave --ray-address out to run on a local runtime)") from exc
        self._ray = ray
        try:
            cpus = self.largest_node_cpus()
            if cpus < 1:
                raise ConfigError(f"the Ray cluster at {self.address or 'local'} has no node with a CPU for "
                                  "topobench's tasks (each asks for num_cpus=1): add a worker node with `ray start "
                                  f"--address={self.address or 'HEAD:PORT'} --num-cpus=N`")
        except BaseException:
            self.stop()
            raise
        logger.info("Ray executor on %s: %d nodes, %g CPUs, %g GPUs", self.address or "a local runtime",
                    self.node_count(), ray.cluster_resources().get("CPU", 0),
                    ray.cluster_resources().get("GPU", 0))

    def stop(self) -> None:
        """Disconnect (a local runtime is shut down with it, and its watchdog stops whatever is left of it)."""
        if self._ray is not None and self._ray.is_initialized():
            with kept_fault_handlers():
                self._ray.shutdown()
        self._ray = None
        self._shipments.clear()
        self._stop_watchdog()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None

    def _alive_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self._ray.nodes() if n.get("Alive")]

    def node_count(self) -> int:
        """The cluster's alive nodes (after ``start``)."""
        return len(self._alive_nodes())

    def largest_node_cpus(self) -> int:
        """The CPUs of the cluster's largest alive node (what a --batch unit asks for)."""
        return int(max((n.get("Resources", {}).get("CPU", 0) for n in self._alive_nodes()), default=0))

    def cluster_gpus(self) -> int:
        return int(self._ray.cluster_resources().get("GPU", 0))

    # --- running units -----------------------------------------------------------------------------------------------

    def check(self, units: Sequence[Unit]) -> None:
        """Refuse what the cluster cannot run: units asking for more GPUs than any node has, and saving an index
        (it would be written on the worker's disk)."""
        saving = [u for u in units if u.save]
        if saving:
            raise ConfigError("--save-index writes the index on the machine that builds it: run it with the local "
                              f"executor (leave --executor ray out); {len(saving)} build(s) asked to save")
        most = max((n.get("Resources", {}).get("GPU", 0) for n in self._alive_nodes()), default=0)
        short = sorted({u.definition.algorithm for u in units if self.resources(u).get("num_gpus", 0) > most})
        if short:
            raise ConfigError(f"{', '.join(short)} ask{'s' * (len(short) == 1)} for a GPU (num_gpus=1) and no node of "
                              f"the Ray cluster at {self.address or 'local'} has one: add a GPU node (`ray start "
                              "--address=HEAD:PORT --num-gpus=1`) or leave them out with --algorithm")

    def resources(self, unit: Unit) -> dict[str, Any]:
        """What one unit asks of the cluster: one CPU in single-query mode (N, at most a node's, with --threads N), a
        whole (largest) node with --batch; the GPUs its index class needs (``Index.gpus``)."""
        threads = unit.config.threads or 1  # run.py --threads N: N query threads at once
        out: dict[str, Any] = {"num_cpus": self.largest_node_cpus() if unit.config.batch else
                               min(threads, self.largest_node_cpus())}
        gpus = get_registry().get("indexes", unit.definition.algorithm).cls.gpus
        if gpus:
            out["num_gpus"] = gpus
        return out

    def ship_dataset(self, name: str) -> DatasetShipment:
        """Put the dataset file into the object store once per sweep (or, over ``SHIP_LIMIT``, name its path)."""
        if name not in self._shipments:
            path = dataset_path(name)
            size = path.stat().st_size
            if size > SHIP_LIMIT:
                digest = hashlib.sha256(f"{path.resolve()}:{size}:{path.stat().st_mtime_ns}".encode()).hexdigest()
                logger.info("dataset %s is %.1f GB: the Ray workers read it at %s", name, size / 1e9, path.resolve())
                self._shipments[name] = DatasetShipment(name, digest, None, str(path.resolve()))
            else:
                data = path.read_bytes()
                self._shipments[name] = DatasetShipment(name, hashlib.sha256(data).hexdigest(), self._ray.put(data))
        return self._shipments[name]

    def run(self, units: Sequence[Unit]) -> Iterator[Outcome]:
        ray = self._ray
        task = ray.remote(max_retries=0)(run_unit_task)
        level = logging.getLogger().level
        live: dict[Any, _Live] = {}
        for unit in units:
            shipment = self.ship_dataset(unit.config.dataset)
            generator = task.options(**self.resources(unit)).remote(unit, shipment, level)
            live[generator] = _Live(unit, submitted=now())
            logger.info("submitted %s (%d points)", unit, len(unit.pending))
        while live:
            deadlines = [s.started + s.unit.config.timeout for s in live.values() if s.started is not None]
            wait = max(0.0, min(deadlines) - now()) if deadlines else None
            ready, _ = ray.wait(list(live), num_returns=1, timeout=wait)
            for generator in ready:
                state = live[generator]
                if self._step(generator, state):
                    del live[generator]
                    yield state.outcome()
            for generator, state in list(live.items()):
                if state.started is not None and now() >= state.started + state.unit.config.timeout:
                    ray.cancel(generator, force=True)
                    del live[generator]
                    yield self._fail(state, f"timeout: no result after {state.unit.config.timeout:g} s (--timeout)")

    def call_each(self, fn: Callable[..., Any], calls: Sequence[tuple], whole_node: bool = False,
                  gpu: bool = False) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Each call as a Ray task (never retried): every CPU of the largest node when ``whole_node`` (one with a GPU
        when ``gpu`` and the cluster has GPUs); a dead worker comes back as a ConfigError naming the cause."""
        ray = self._ray
        options: dict[str, Any] = {"max_retries": 0, "num_cpus": self.largest_node_cpus() if whole_node else 1}
        if gpu and self.cluster_gpus():
            options.update(num_gpus=1, num_cpus=1)
        task = ray.remote(**options)(fn)
        refs = {task.remote(*args): i for i, args in enumerate(calls)}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                i = refs.pop(ref)
                try:
                    yield i, ray.get(ref), None
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                    yield i, None, cause
                except ray.exceptions.RayError as exc:
                    yield i, None, ConfigError(f"the Ray worker died ({type(exc).__name__}: "
                                               f"{str(exc).splitlines()[0][:300]})")

    def _step(self, generator: Any, state: _Live) -> bool:
        """Take the generator's next message; True when the unit is over."""
        ray = self._ray
        try:
            message = ray.get(next(generator))
        except StopIteration:
            return True
        except ray.exceptions.RayTaskError as exc:  # the task's own code raised outside run_definition
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
            status, error = failure_status(cause)
            self._fail(state, status, extra={"error": error})
            return True
        except ray.exceptions.RayError as exc:  # the worker died: os._exit, a segfault, the OOM killer, a lost node
            self._fail(state, f"crashed: the Ray worker died ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300]})")
            return True
        kind = message[0]
        if kind == "started":
            state.started = now()
            logger.info("running %s on %s", state.unit, message[1])
        elif kind == "result":
            _, i, data = message
            self._write(state, i, data)
        elif kind == "error":
            _, status, error = message
            self._fail(state, status, extra={"error": error}, check_fresh=False)
        elif kind == "crashed":
            self._fail(state, message[1])
        return False

    def _write(self, state: _Live, i: int, data: bytes) -> None:
        """Write one result the worker sent back, at its place, atomically; a failed write is recorded."""
        path = state.unit.paths[i]
        try:
            res.place_result(path, data, append=state.unit.config.repeat_index > 1)
            res.failure_path(path).unlink(missing_ok=True)
        except OSError as exc:
            status, error = failure_status(exc)
            logger.error("%s: cannot write %s: %s", state.unit, path, status)
            record_failures(state.unit, status, None, skip=[j for j in state.unit.pending if j != i],
                            extra={"error": error})
            state.unwritable.append(i)
            return
        state.written.append(i)

    def _fail(self, state: _Live, status: str, extra: dict[str, Any] | None = None,
              check_fresh: bool = True) -> Outcome:
        """Record ``status`` for the unit's points that got no result; the outcome to report."""
        logger.error("%s %s", state.unit, status)
        state.status = status if status.split(":")[0] in ("timeout", "crashed") else None
        started = state.started if state.started is not None else state.submitted
        record_failures(state.unit, status, started if check_fresh else None,
                        skip=[*state.written, *state.unwritable], extra=extra or {"started": started})
        return state.outcome()


@dataclass
class _Live:
    """A submitted unit as the driver follows it."""

    unit: Unit
    submitted: float
    started: float | None = None
    status: str | None = None
    written: list[int] = field(default_factory=list)  # points whose result the driver wrote
    unwritable: list[int] = field(default_factory=list)  # points whose result could not be written here

    def outcome(self) -> Outcome:
        return Outcome(self.unit, self.started if self.started is not None else self.submitted, self.status)


# --- in the worker ---------------------------------------------------------------------------------------------------

def node_dataset(shipment: DatasetShipment) -> Path:
    """The dataset file on this node: the driver's path, or this node's copy from the object store (made once)."""
    if shipment.ref is None:
        path = Path(shipment.path)
        if not path.exists():
            raise FileNotFoundError(f"dataset {shipment.name!r} is too large to ship through Ray: this node needs it "
                                    f"at {path} (the driver's path)")
        return path
    import ray

    path = Path(tempfile.gettempdir()) / "topobench-ray" / "datasets" / shipment.sha256[:16] / f"{shipment.name}.hdf5"
    if not path.exists():
        data = ray.get(shipment.ref)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return path


class _Announce(list):
    """The ``written`` list handed to ``run_definition``: each position appended is also put on a queue, so the task
    can send that result back while the sweep goes on."""

    def __init__(self, channel: Any) -> None:
        super().__init__()
        self.channel = channel

    def append(self, i: int) -> None:
        super().append(i)
        self.channel.put(("written", i))


def child_main(unit: Unit, log_level: int, channel: Any) -> None:
    """The measuring process the task spawns, as the local executor does (a fresh interpreter: the same memory
    baseline and threads as a local run, none of the Ray worker's): ``run_definition`` into the scratch results
    folder the task set in the environment, announcing each point written; an exception goes to the task."""
    from topobench.runs.executors.local import die_with_parent
    from topobench.runs.unit_run import run_definition

    die_with_parent()
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_definition(unit.config, unit.definition, list(unit.pending), False, _Announce(channel))
    except Exception as exc:  # noqa: BLE001 - sent to the driver, which records it per point
        channel.put(("error", *failure_status(exc)))
    channel.put(("done",))


@contextmanager
def plain_main() -> Iterator[None]:
    """While a child is spawned, hide the Ray worker's main script from ``multiprocessing``, which would otherwise
    run it again in the child as ``__mp_main__`` and import all of Ray there (~40 MB more resident memory than a
    local child, which would show in the peak-memory figures)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def run_unit_task(unit: Unit, shipment: DatasetShipment, log_level: int) -> Iterator[tuple]:
    """The Ray task (a generator): ``("started", node)``, then ``("result", i, file bytes)`` per point as it is
    measured, ``("error", status, traceback)`` when the build or the sweep raised, ``("crashed", status)`` when the
    measuring process died.

    The unit is measured in a spawned child (:func:`child_main`) with ``TOPOBENCH_RESULTS`` pointing at a scratch
    folder; this process only waits for its announcements (a blocking queue read), so it takes no CPU from the
    measurement. A task cancelled by the driver takes the child with it (the child dies with its parent)."""
    import multiprocessing as mp

    yield ("started", f"{socket.gethostname()} (pid {os.getpid()})")
    logging.getLogger("topobench").setLevel(log_level)
    dataset_file = node_dataset(shipment)
    context = mp.get_context("spawn")
    # The child inherits both: run_definition's result paths go to the scratch folder, the dataset is this node's copy.
    with tempfile.TemporaryDirectory(prefix="topobench-ray-") as scratch, \
            temporary_environ({res.RESULTS_DIR_ENV: scratch, DATA_DIR_ENV: str(dataset_file.parent)}):
        scratch_paths = [res.result_path(unit.config.dataset, unit.config.count, unit.definition.algorithm,
                                         unit.config.batch, list(unit.definition.arguments), list(qargs),
                                         threads=unit.config.threads)
                         for qargs in unit.definition.query_argument_groups]
        channel = context.Queue()
        child = context.Process(target=child_main, args=(unit, log_level, channel),
                                name=f"topobench-{unit.definition.algorithm}")
        with plain_main():
            child.start()
        finished = False
        while not finished:
            try:
                message = channel.get(timeout=CHILD_POLL)
            except queue.Empty:
                if child.is_alive():
                    continue
                try:  # the child died: what it announced before still counts
                    message = channel.get(timeout=CHILD_POLL)
                except queue.Empty:
                    break
            if message[0] == "written":
                yield ("result", message[1], scratch_paths[message[1]].read_bytes())
            elif message[0] == "error":
                yield message
            else:
                finished = True
        child.join()
        code = child.exitcode
        if code:
            yield ("crashed", f"crashed: killed by signal {-code}" if code < 0 else f"crashed: exit code {code}")
