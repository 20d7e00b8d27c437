"""A bounded load check of a running service: N POST requests at a fixed concurrency over keep-alive connections,
with client-side latency percentiles, throughput and an error count (used by ``bench/serve.py`` and the tests).

Bounded in count and in time: at most ``requests`` requests, and none started after ``max_seconds``. Aimed at loopback
addresses only; each worker thread keeps one ``http.client`` connection and reopens it after an error.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What a load check measured. Latencies are client-side, in milliseconds."""

    sent: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    server_ms: np.ndarray  # the ``search_ms`` the server reported for each successful request
    error_examples: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float, server: bool = False) -> float:
        values = self.server_ms if server else self.latencies_ms
        return float(np.percentile(values, p)) if len(values) else float("nan")

    def line(self, concurrency: int) -> str:
        return (f"{self.sent} searches at concurrency {concurrency} in {self.seconds:.2f} s: "
                f"{self.throughput:.1f} req/s, latency p50 {self.percentile(50):.2f} ms, p99 {self.percentile(99):.2f} "
                f"ms (server search p50 {self.percentile(50, True):.3f} ms, p99 {self.percentile(99, True):.3f} ms), "
                f"errors {self.errors}")


def run_load(url: str, path: str, bodies: Sequence[dict[str, Any]], requests: int = 2000, concurrency: int = 8,
             max_seconds: float = 300.0, timeout: float = 30.0) -> LoadReport:
    """POST ``bodies`` (cycled) to ``url + path`` ``requests`` times from ``concurrency`` threads."""
    parts = urlsplit(url)
    local = threading.local()
    payloads = [json.dumps(b).encode() for b in bodies]
    deadline = time.monotonic() + max_seconds
    tried = np.zeros(requests, dtype=bool)
    latencies = np.full(requests, np.nan)
    server = np.full(requests, np.nan)
    errors: list[str] = []
    lock = threading.Lock()

    def connection() -> http.client.HTTPConnection:
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        return local.conn

    def one(i: int) -> None:
        if time.monotonic() > deadline:
            return
        tried[i] = True
        start = time.perf_counter()
        try:
            conn = connection()
            conn.request("POST", path, body=payloads[i % len(payloads)], headers={"content-type": "application/json"})
            response = conn.getresponse()
            body = response.read()
            latencies[i] = (time.perf_counter() - start) * 1000.0
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
            server[i] = float(json.loads(body).get("search_ms", np.nan))
        except Exception as exc:  # noqa: BLE001 - every failure counts as an error, whatever it is
            local.conn = None
            with lock:
                errors.append(f"request {i}: {type(exc).__name__}: {exc}")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - start
    done = ~np.isnan(latencies)
    sent = int(tried.sum())
    if sent < requests:
        logger.warning("stopped after %d of %d requests: the %g s bound was reached", sent, requests, max_seconds)
    ok = server[~np.isnan(server)]
    return LoadReport(sent=sent, errors=len(errors), seconds=seconds, latencies_ms=latencies[done], server_ms=ok,
                      error_examples=errors[:5])
