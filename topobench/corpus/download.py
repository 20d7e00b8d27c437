"""Getting raw corpus files: a mirror folder first, then the download cache, then the upstream address.

``fetch(url)`` returns a local path for the upstream file ``url``:

1. ``$TOPOBENCH_MIRROR/<upstream file name>`` when that file exists, so an offline machine works without code changes
   (a mirror is just a folder of files named as upstream; a cache's ``downloads/`` folder is a valid mirror);
2. ``$TOPOBENCH_CACHE/downloads/<upstream file name>`` (default ``~/.cache/topobench``) from an earlier download;
3. otherwise it downloads with a tqdm progress bar into a hidden partial file beside the cache entry, checks it
   (length against Content-Length, size / sha256 when known, zip central directory and CRCs, gzip stream to its end)
   and renames it into place only when all checks pass. A failed or corrupt download leaves nothing in the cache and
   raises one ``DatasetError`` line saying what to do.

Files read later are checked again as they are parsed (see ``corpus_formats.reading``): a corrupt cache entry is
removed with a one-line error, a corrupt mirror file is named with the advice to replace it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from topobench.core.atomic import atomic_path, replace
from topobench.core.environment import CACHE_ENV, cache_dir  # noqa: F401 - CACHE_ENV: named here too
from topobench.core.errors import DatasetError

logger = logging.getLogger(__name__)

MIRROR_ENV = "TOPOBENCH_MIRROR"
TIMEOUT_S = 60
_CHUNK = 1 << 20
# sha256 of files at least this large is remembered in <cache>/sha256.json (keyed by path, size, mtime).
_MEMO_MIN_BYTES = 64 << 20


def downloads_dir() -> Path:
    """Where downloaded files live, under their upstream names."""
    return cache_dir() / "downloads"


def mirror_dir() -> Path | None:
    """The mirror folder named by ``$TOPOBENCH_MIRROR``, or None when unset."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def upstream_name(url: str) -> str:
    """The file name a URL ends with (what the mirror and the cache call the file)."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise ValueError(f"no file name in URL {url!r}")
    return name


def where(path: Path) -> str:
    """``"mirror"``, ``"cache"`` or ``"local"``: where a file handed out by ``fetch`` (or given by the user) lives."""
    resolved = path.resolve()
    mirror = mirror_dir()
    if mirror is not None and resolved.parent == mirror.resolve():
        return "mirror"
    if resolved.parent == downloads_dir().resolve():
        return "cache"
    return "local"


def fix_hint(path: Path) -> str:
    """The advice that ends an error about a bad file, by where it lives."""
    kind = where(path)
    if kind == "mirror":
        return f"replace {path.name} in the mirror ${MIRROR_ENV} ({path.parent}) with a good copy"
    if kind == "cache":
        return f"delete {path} and run again to download it afresh"
    return f"check {path}"


def fetch(url: str, expected_size: int | None = None, sha256: str | None = None) -> Path:
    """A local path holding the upstream file ``url``: from the mirror, the cache, or a verified download."""
    name = upstream_name(url)
    mirror = mirror_dir()
    if mirror is not None and (mirror / name).is_file():
        path = mirror / name
        _check_known(path, expected_size, sha256)
        logger.debug("%s: using the mirror copy %s", name, path)
        return path
    cached = downloads_dir() / name
    if cached.is_file():
        _check_known(cached, expected_size, sha256)
        logger.debug("%s: using the cached copy %s", name, cached)
        return cached
    return _download(url, cached, expected_size, sha256)


def fetch_all(urls: list[str]) -> list[Path]:
    """``fetch`` each URL; when several cannot be had, one DatasetError names them all (not one per run)."""
    paths: list[Path] = []
    failures: list[tuple[str, DatasetError]] = []
    for url in urls:
        try:
            paths.append(fetch(url))
        except DatasetError as exc:
            failures.append((url, exc))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        names = ", ".join(upstream_name(url) for url, _ in failures)
        raise DatasetError(f"{len(failures)} files are missing and cannot be had ({failures[0][1]}); "
                           f"put {names} in ${MIRROR_ENV} (now {mirror_dir() or 'unset'}) or in {downloads_dir()}")
    return paths


def _check_known(path: Path, expected_size: int | None, sha256: str | None) -> None:
    """Compare a mirror or cache file with the size and checksum we know, raising a one-line error on a mismatch."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DatasetError(f"{path} has {size} bytes, upstream has {expected_size}: {fix_hint(path)}")
    if sha256 is not None and file_sha256(path) != sha256.lower():
        raise DatasetError(f"{path} does not have the upstream sha256 {sha256}: {fix_hint(path)}")


def _download(url: str, target: Path, expected_size: int | None, sha256: str | None) -> Path:
    """Download ``url`` to a partial file, verify it, and rename it to ``target``; on any failure keep nothing."""
    name = target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.partial")  # a killed run's leftover is overwritten by the next try
    advice = f"put {name} in ${MIRROR_ENV} (now {mirror_dir() or 'unset'}) or in {target.parent}"
    logger.info("downloading %s to %s", url, target)
    digest = hashlib.sha256()
    done = False
    try:
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "topobench"}),
                                              timeout=TIMEOUT_S)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DatasetError(f"cannot download {url} ({reason}); {advice}") from exc
        with response, open(partial, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False) as bar:
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise DatasetError(f"download of {url} broke off after {received} bytes ({exc}); "
                                       f"nothing was kept; run again or {advice}") from exc
        problem = None
        if total is not None and received != total:
            problem = f"received {received} of {total} bytes"
        elif expected_size is not None and received != expected_size:
            problem = f"received {received} bytes, upstream has {expected_size}"
        elif sha256 is not None and digest.hexdigest() != sha256.lower():
            problem = f"sha256 {digest.hexdigest()} is not the upstream {sha256}"
        else:
            problem = check_integrity(partial, name)
        if problem:
            raise DatasetError(f"download of {url} is truncated or corrupt ({problem}); nothing was kept; "
                               f"run again or {advice}")
        replace(partial, target, "downloaded file")
        done = True
    finally:
        if not done:
            partial.unlink(missing_ok=True)
    if received >= _MEMO_MIN_BYTES:
        _remember_sha256(target, digest.hexdigest())
    logger.info("downloaded %s (%d bytes)", target, received)
    return target


def check_integrity(path: Path, name: str | None = None) -> str | None:
    """What is wrong with an archive, or None: zip central directory and member CRCs; gzip stream read to its end.

    ``name`` (default: the path's name) decides the format by its ending; other formats pass unchecked.
    """
    name = name or path.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"member {bad} fails its CRC check" if bad else None
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                while stream.read(_CHUNK):
                    pass
            return None
    except (zipfile.BadZipFile, EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def file_sha256(path: Path) -> str:
    """The sha256 of a file; a large file's is remembered in ``<cache>/sha256.json`` while its size and mtime hold."""
    stat = path.stat()
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns]
    memo = _read_memo() if stat.st_size >= _MEMO_MIN_BYTES else {}
    entry = memo.get(key)
    if entry and entry.get("stamp") == stamp:
        return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    if stat.st_size >= _MEMO_MIN_BYTES:
        _remember_sha256(path, digest.hexdigest())
    return digest.hexdigest()


def _memo_path() -> Path:
    return cache_dir() / "sha256.json"


def _read_memo() -> dict:
    try:
        return json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}


def _remember_sha256(path: Path, sha256: str) -> None:
    """Record a large file's sha256 (best effort: a memo that cannot be written only costs a re-hash later)."""
    stat = path.stat()
    memo = _read_memo()
    memo[str(path.resolve())] = {"stamp": [stat.st_size, stat.st_mtime_ns], "sha256": sha256}
    with contextlib.suppress(OSError):
        _memo_path().parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(_memo_path()) as temporary:
            temporary.write_text(json.dumps(memo, indent=1))
