"""Running an ASGI app on uvicorn: a listening socket bound up front (so "port in use" is a clear error before
anything else happens), in the foreground for ``serve.py`` or on a background thread for tests and ``bench/serve.py``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from topobench.core.errors import TopobenchError
from topobench.service.logs import bound_log_lines

logger = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); a busy port is a ``TopobenchError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TopobenchError(f"cannot listen on {host}:{port} ({exc.strerror}): pick another --port or --host") from exc
    sock.listen(2048)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=30)  # sets up its logging
    bound_log_lines()  # then every line it (or the app) logs is cut to a bounded length
    return uvicorn.Server(config)


def serve_forever(app: Any, sock: socket.socket, log_level: str = "info") -> None:
    """Serve on ``sock`` until interrupted (uvicorn handles Ctrl-C and SIGTERM gracefully)."""
    _server(app, log_level).run(sockets=[sock])


class BackgroundServer:
    """uvicorn serving ``app`` on a thread, as a context manager: ``with BackgroundServer(app) as s: s.url``.

    Binds ``host:port`` (default: a free loopback port) before starting; on exit asks uvicorn to stop and joins."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 start_timeout: float = 30.0) -> None:
        self.app, self.host, self.port = app, host, port
        self.log_level, self.start_timeout = log_level, start_timeout
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BackgroundServer:
        sock = bind(self.host, self.port)
        self.url = url_of(sock)
        self._server = _server(self.app, self.log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="uvicorn",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise TopobenchError(f"the server on {self.url} did not start within {self.start_timeout:g} s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
