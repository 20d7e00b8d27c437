"""The Docker executor: each unit of work in its own container, pinned to CPUs, under a memory limit, without network
(``run.py --docker``), as ann-benchmarks isolates its algorithms.

- **The image** (``python run.py --build-image``, ``make docker``; :func:`build_image`) is built from the project: a
  Debian bookworm base made with ``debootstrap --variant=minbase`` (Docker Hub is not reachable from these machines;
  built once, kept as ``topobench-base:bookworm``) plus one layer holding the layers of topobench a benchmark child
  imports (core … runs, and ``plugins/``) and the libraries it needs — numpy, h5py, PyYAML, pluggy, tqdm, faiss-cpu,
  hnswlib, at the versions installed here, installed by this machine's pip (its package index settings) into a folder
  copied into the image. No torch, transformers or Pyserini: in the image their plugins are unavailable, with the
  reason. The image is labelled with a fingerprint of what it holds; running an image whose fingerprint is not the
  checkout's is warned about (the containers run the image's code), and every result names the image and its id.
- **Each unit** runs ``python3 -m topobench.runs.executors.docker SPEC`` in a fresh container: the runner's own
  ``child_main`` (as the local executor's child), on ``--cpuset-cpus`` (one core in single-query mode, N with
  ``--threads N``, every core with ``--batch``), with ``--memory`` (the run group's ``memory`` in ``algos.yaml``, else
  the executor's, default three quarters of the machine's memory), ``--network none``, the datasets folder mounted
  read-only and the results folder read-write at the paths they have here (so results are the same files as without
  Docker), as this user. ``--timeout`` kills the container and records ``timeout: …``; a container killed by the memory
  limit is recorded as ``killed: memory limit 2g``, any other death as ``crashed: …``; the sweep goes on. The child's
  log lines are passed on to this process's loggers.
- **Refused before any work** (one line with the fix): no daemon answering, the Docker SDK missing, the image missing,
  a memory limit below what the dataset's arrays take in memory (or below Docker's 6 MB minimum), ``--save-index``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from topobench.core.errors import ConfigError, TopobenchError
from topobench.core.machine import DOCKER_IMAGE_ENV, memory_total_bytes
from topobench.datasets.store import DATA_DIR_ENV, dataset_path, datasets_dir
from topobench.runs import results as res
from topobench.runs.definitions import format_size
from topobench.runs.executors.base import Executor, Outcome, Unit, now, record_failures

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "topobench:latest"
BASE_IMAGE = "topobench-base:bookworm"
DOCKER_INSTALL_HINT = "pip install 'topobench[docker]' (the Docker SDK for Python)"
DAEMON_HINT = "start one with scripts/docker-daemon.sh (as root: installs docker.io with apt when missing)"
BUILD_HINT = "build it with `python run.py --build-image` (or `make docker`)"
FINGERPRINT_LABEL = "topobench.fingerprint"
ROOT = Path(__file__).resolve().parents[3]  # the repository
IMAGE_HOME = "/opt/topobench"  # in the image: src/ (the project's files), site/ (the libraries)
# What a benchmark child imports: these layers of topobench (docs/ARCHITECTURE.md) and the plugins.
IMAGE_LAYERS = ("core", "backends", "corpus", "datasets", "runs")
# The libraries the child needs, by distribution name; installed at the versions found here.
IMAGE_PACKAGES = ("numpy", "h5py", "PyYAML", "pluggy", "tqdm", "faiss-cpu", "hnswlib")
DEFAULT_MEMORY_SHARE = 0.75  # --memory default: this share of the machine's memory
DOCKER_MINIMUM = 6 << 20  # the smallest memory limit Docker accepts
PASSED_ENV = re.compile(r"TOPOBENCH_PLUGIN")  # plugin selection and folders go into the container (folders mounted)
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
STRIP = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")


# --- the Docker SDK and the daemon -----------------------------------------------------------------------------------

def import_docker() -> Any:
    """The Docker SDK (``docker``), or a ConfigError naming the extra to install."""
    try:
        import docker
    except ImportError as exc:
        raise ConfigError(f"--docker needs the Docker SDK for Python, which is not installed ({exc}): "
                          f"{DOCKER_INSTALL_HINT}") from exc
    return docker


def connect() -> Any:
    """A client of the Docker daemon (``DOCKER_HOST`` or the local socket) that answered a ping."""
    docker = import_docker()
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises DockerException, requests' errors, OSError …
        where = os.environ.get("DOCKER_HOST") or "the local socket"
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ConfigError(f"no Docker daemon answers at {where} ({detail}): {DAEMON_HINT}") from None
    return client


# --- the image -----------------------------------------------------------------------------------------------------

def image_files(root: Path = ROOT) -> list[Path]:
    """The project's files the image holds, relative to ``root``: the benchmark child's layers of topobench, the
    plugins, ``pyproject.toml`` and ``algos.yaml``."""
    files = [Path("topobench/__init__.py"), Path("pyproject.toml"), Path("algos.yaml")]
    for folder in [*(Path("topobench") / layer for layer in IMAGE_LAYERS), Path("plugins")]:
        files += sorted(p.relative_to(root) for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def package_pins() -> list[str]:
    """``name==version`` of :data:`IMAGE_PACKAGES` as installed here (the image runs what this machine runs)."""
    pins = []
    for name in IMAGE_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as exc:
            raise ConfigError(f"building the image needs {name} installed here (its version goes into the image): "
                              "pip install -e '.[all]'") from exc
    return pins


def fingerprint(root: Path = ROOT) -> str:
    """A short hash of what the image holds: the project's files (:func:`image_files`) and the library pins."""
    digest = hashlib.sha256()
    for rel in image_files(root):
        digest.update(str(rel).encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    digest.update("\n".join(package_pins()).encode())
    return digest.hexdigest()[:16]


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 ``URIs:`` or a ``deb`` line), else deb.debian.org."""
    sources = [*Path("/etc/apt/sources.list.d").glob("*.sources"), *Path("/etc/apt/sources.list.d").glob("*.list"),
               Path("/etc/apt/sources.list")]
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            found = re.match(r"^\s*(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", line)
            if found and "security" not in found.group(1) and "debian" in found.group(1):
                return found.group(1)
    return "http://deb.debian.org/debian"


def build_base(client: Any, work: Path) -> None:
    """``topobench-base:bookworm``: Debian bookworm (minbase) with python3, made with debootstrap and imported."""
    if shutil.which("debootstrap") is None:
        raise ConfigError(f"building the base image needs debootstrap: {DAEMON_HINT.split(': ', 1)[1]} (the script "
                          "installs it), or apt-get install debootstrap")
    if os.geteuid() != 0:
        raise ConfigError("building the base image runs debootstrap, which needs root: run `python run.py "
                          "--build-image` as root once (later builds reuse the base)")
    rootfs = work / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    mirror = debian_mirror()
    logger.info("building %s with debootstrap from %s (about a minute)", BASE_IMAGE, mirror)
    start = time.perf_counter()
    done = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs), mirror],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TopobenchError(f"debootstrap failed ({tail[0]}); check that {mirror} is reachable")
    for rel in STRIP:
        shutil.rmtree(rootfs / rel, ignore_errors=True)
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    repository, tag = BASE_IMAGE.split(":")
    client.api.import_image(src=str(archive), repository=repository, tag=tag)
    archive.unlink()
    shutil.rmtree(rootfs, ignore_errors=True)
    logger.info("built %s in %.0f s", BASE_IMAGE, time.perf_counter() - start)


def _install_libraries(site: Path) -> None:
    """The image's libraries, installed by this machine's pip into ``site`` (its index settings apply)."""
    shutil.rmtree(site, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--target", str(site), *package_pins()], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TopobenchError(f"pip could not install the image's libraries ({tail[0]}); run `pip install "
                             f"{' '.join(package_pins())}` here to see why")
    for tests in [p for p in site.rglob("tests") if p.is_dir()]:
        shutil.rmtree(tests, ignore_errors=True)  # the libraries' own test suites: not used, and large


def build_image(tag: str = DEFAULT_IMAGE, root: Path = ROOT, work: Path | None = None) -> str:
    """Build the benchmark image ``tag`` from the project (the base first when it is missing); return its id.

    One layer over the base: ``/opt/topobench/src`` (the files of :func:`image_files`) and ``/opt/topobench/site``
    (the libraries), put into a container of the base and committed, labelled with :func:`fingerprint`."""
    client = connect()
    docker = import_docker()
    work = work or root / "build" / "docker"
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        build_base(client, work)
    site = work / "site"
    logger.info("installing %s for the image", ", ".join(package_pins()))
    _install_libraries(site)
    archive = work / "layer.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(site, arcname="topobench/site")
        for rel in image_files(root):
            tar.add(root / rel, arcname=f"topobench/src/{rel}")
    container = client.containers.create(BASE_IMAGE, command=["true"], network_disabled=True)
    try:
        with archive.open("rb") as data:
            container.put_archive("/opt", data)
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        image = container.commit(repository=repository, tag=version, changes=[
            f"ENV PYTHONPATH={IMAGE_HOME}/src:{IMAGE_HOME}/site", "ENV PYTHONDONTWRITEBYTECODE=1",
            f"WORKDIR {IMAGE_HOME}/src", f"LABEL {FINGERPRINT_LABEL}={fingerprint(root)}",
            'CMD ["python3", "-m", "topobench.runs.executors.docker", "--check"]'])
    finally:
        container.remove(force=True)
        archive.unlink(missing_ok=True)
        shutil.rmtree(site, ignore_errors=True)
    size = client.images.get(image.id).attrs.get("Size", 0)
    logger.info("built %s (%s, %.0f MB) in %.0f s", tag, image.short_id, size / 1e6, time.perf_counter() - start)
    return image.id


# --- the executor --------------------------------------------------------------------------------------------------

def default_memory() -> int:
    """``--memory`` when not given: :data:`DEFAULT_MEMORY_SHARE` of the machine's memory, in whole MiB."""
    total = memory_total_bytes() or (8 << 30)
    return int(total * DEFAULT_MEMORY_SHARE) >> 20 << 20


def dataset_bytes(name: str) -> int:
    """What loading the dataset takes in memory at least: its vectors, queries and ground truth (read from the file's
    shapes, nothing loaded)."""
    import h5py

    with h5py.File(dataset_path(name), "r") as f:
        return sum(int(f[key].size) * f[key].dtype.itemsize for key in ("train", "test", "neighbors", "distances")
                   if key in f)


def cpus_for(unit: Unit, available: Sequence[int]) -> list[int]:
    """The CPUs a unit's container is pinned to: one in single-query mode, N with ``--threads N`` (at most those
    available), all with ``--batch``."""
    config = unit.config
    if config.batch:
        return list(available)
    wanted = config.threads or 1
    if wanted > len(available):
        logger.warning("--threads %d under --docker: only %d CPUs to pin to; the threads share them", wanted,
                       len(available))
    return list(available)[:wanted]


class DockerExecutor(Executor):
    """One container per unit, one unit at a time (so a pinned single-query measurement has its core to itself)."""

    name = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, memory: int | None = None) -> None:
        self.image = image
        self.memory = memory or default_memory()
        self.client: Any = None
        self.image_id = ""

    def start(self) -> None:
        """Connect to the daemon; refuse a missing image or one built from other sources than this checkout's."""
        self.client = connect()
        docker = import_docker()
        try:
            image = self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise ConfigError(f"the Docker image {self.image} is missing: {BUILD_HINT}") from None
        except docker.errors.APIError as exc:  # a reference the daemon refuses (checked by --image already)
            raise ConfigError(f"the Docker daemon refused the image name {self.image!r} "
                              f"({str(exc.explanation or exc).splitlines()[0][:200]}): name an image such as "
                              "topobench:latest") from None
        self.image_id = image.short_id
        built_from = (image.labels or {}).get(FINGERPRINT_LABEL)
        if built_from != fingerprint():
            logger.warning("the Docker image %s was built from other sources than this checkout's (fingerprint %s, "
                           "here %s): the containers run the image's code; rebuild it with `python run.py "
                           "--build-image` (or `make docker`) to measure this checkout", self.image, built_from,
                           fingerprint())

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def limit(self, unit: Unit) -> int:
        """The memory limit of a unit's container: its run group's ``memory`` (algos.yaml), else ``--memory``."""
        return unit.definition.memory or self.memory

    def check(self, units: Sequence[Unit]) -> None:
        """Refuse ``--save-index`` (the index would stay in the container) and memory limits below what the dataset
        needs just to load."""
        if any(u.save for u in units):
            raise ConfigError("--save-index writes the index where it is built: leave --docker out to save indexes")
        needs: dict[str, int] = {}
        for unit in units:
            need = needs.setdefault(unit.config.dataset, dataset_bytes(unit.config.dataset))
            limit = self.limit(unit)
            where = f"the memory of {unit.definition.source} in algos.yaml" if unit.definition.memory else "--memory"
            if limit < need:
                raise ConfigError(f"memory limit {format_size(limit)} for {unit} is below the {need / 1e6:.1f} MB "
                                  f"dataset {unit.config.dataset} takes in memory (its vectors and ground truth): "
                                  f"raise {where}")
            if limit < DOCKER_MINIMUM:
                raise ConfigError(f"memory limit {format_size(limit)} for {unit} is below Docker's minimum of "
                                  f"{format_size(DOCKER_MINIMUM)}: raise {where}")

    def run(self, units: Sequence[Unit]) -> Iterator[Outcome]:
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
            range(os.cpu_count() or 1))
        with tempfile.TemporaryDirectory(prefix="topobench-docker-") as spec_dir:
            for n, unit in enumerate(units):
                logger.info("running %s in a container (%d points, memory %s)", unit, len(unit.pending),
                            format_size(self.limit(unit)))
                yield self.run_unit(unit, Path(spec_dir) / f"unit-{n}.pkl", cpus_for(unit, available))

    def run_unit(self, unit: Unit, spec: Path, cpus: list[int]) -> Outcome:
        """Run one unit in a container; record a timeout, the memory limit or a crash for the points it did not
        write."""
        import requests

        spec.write_bytes(pickle.dumps(unit))
        spec.chmod(0o644)
        results = res.results_dir().resolve()
        results.mkdir(parents=True, exist_ok=True)  # else Docker would create the mount point, owned by root
        data = datasets_dir().resolve()
        volumes = {str(data): {"bind": str(data), "mode": "ro"}, str(results): {"bind": str(results), "mode": "rw"},
                   str(spec.parent): {"bind": "/topobench-spec", "mode": "ro"}}
        environment = {res.RESULTS_DIR_ENV: str(results), DATA_DIR_ENV: str(data),
                       DOCKER_IMAGE_ENV: f"{self.image} ({self.image_id})"}
        for key, value in os.environ.items():
            if PASSED_ENV.match(key):
                environment[key] = value
        for folder in filter(None, os.environ.get("TOPOBENCH_PLUGIN_DIRS", "").split(os.pathsep)):
            path = str(Path(folder).resolve())
            volumes.setdefault(path, {"bind": path, "mode": "ro"})
        limit = self.limit(unit)
        started = now()
        docker = import_docker()
        container = None
        try:
            container = self.client.containers.create(
                self.image, ["python3", "-m", "topobench.runs.executors.docker", f"/topobench-spec/{spec.name}",
                             str(logging.getLogger().getEffectiveLevel())],
                detach=True, network_mode="none", cpuset_cpus=",".join(map(str, cpus)), mem_limit=limit,
                memswap_limit=limit, volumes=volumes, environment=environment, user=f"{os.getuid()}:{os.getgid()}",
                labels={"topobench": "unit"},
                name=f"topobench-{unit.definition.algorithm}-{os.getpid()}-{time.monotonic_ns()}")
            container.start()
        except docker.errors.APIError as exc:  # refused for this unit (a cpuset, a limit): recorded, the sweep goes on
            if container is not None:  # created, but the runtime refused to start it: not left behind in Created
                remove_quietly(container)
            status = f"error: Docker refused the container ({exc.explanation or exc})".splitlines()[0][:500]
            logger.error("%s %s", unit, status)
            record_failures(unit, status, started, extra={"started": started})
            return Outcome(unit, started, status)
        relay = threading.Thread(target=_relay_logs, args=(container,), daemon=True)
        relay.start()
        status = None
        try:
            try:
                code = container.wait(timeout=unit.config.timeout)["StatusCode"]
            except (requests.exceptions.RequestException, OSError):
                container.kill()
                status = f"timeout: no result after {unit.config.timeout:g} s (--timeout)"
            else:
                container.reload()
                if container.attrs["State"].get("OOMKilled"):
                    status = f"killed: memory limit {format_size(limit)}"
                elif code != 0:
                    status = (f"crashed: killed by signal {code - 128}" if code > 128
                              else f"crashed: exit code {code}")
            relay.join(timeout=5)
        finally:
            container.remove(force=True)
        if status is not None:
            logger.error("%s %s", unit, status)
            record_failures(unit, status, started, extra={
                "started": started, "container": {"image": self.image, "memory_limit": format_size(limit),
                                                  "cpuset": ",".join(map(str, cpus))}})
        return Outcome(unit, started, status)


def remove_quietly(container: Any) -> None:
    """Remove a container (force), logging instead of raising when the daemon cannot: the sweep goes on."""
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - the daemon's APIError, a lost connection
        logger.warning("could not remove container %s (%s): remove it with `docker rm -f %s`", container.name, exc,
                       container.name)


def _relay_logs(container: Any) -> None:
    """Pass the container's log lines on to this process's loggers, at their level, as a local child's would be."""
    buffer = b""
    try:
        for chunk in container.logs(stream=True, follow=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                _relay_line(line.decode("utf-8", "replace").rstrip("\r"))
    except Exception:  # noqa: BLE001 - the container went away: its logs end there
        return
    if buffer:
        _relay_line(buffer.decode("utf-8", "replace"))


def _relay_line(line: str) -> None:
    found = LOG_LINE.match(line)
    if found:
        logging.getLogger(found.group(2)).log(logging.getLevelName(found.group(1)), "%s", found.group(3))
    elif line.strip():
        logger.debug("container: %s", line)


# --- in the container ----------------------------------------------------------------------------------------------

def main(argv: Sequence[str]) -> int:
    """The container's entry point: ``SPEC [LOG_LEVEL]`` runs the pickled unit as the local executor's child does;
    ``--check`` prints what the image holds (the registry's availability of each plugin)."""
    if argv[:1] == ["--check"]:
        from topobench.core.registry import get_registry

        stream = io.StringIO()
        for info in get_registry().plugins.values():
            for reg in info.registered:
                stream.write(f"{reg.kind} {reg.name}: {reg.unavailable_reason() or 'available'}\n")
        sys.stdout.write(stream.getvalue())
        return 0
    from topobench.runs.executors.local import child_main

    unit = pickle.loads(Path(argv[0]).read_bytes())
    child_main(unit, int(argv[1]) if len(argv) > 1 else logging.INFO)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
