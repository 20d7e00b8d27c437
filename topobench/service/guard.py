"""The request-body guard in front of the service's FastAPI app (a plain ASGI middleware).

Why: FastAPI reads a whole body into memory before anything checks it, and decodes it according to its content type:
a 50 MB body grew the server by as much per request in flight, and a body that is not UTF-8 sent as ``text/plain``,
``application/octet-stream`` or without a content type ended as a 500 (``UnicodeDecodeError``). So, before the app
sees a request body:

* a ``Content-Length`` above ``max_body`` is answered 413 at once, without reading the body; a body without a length
  (chunked) is read only up to ``max_body`` and answered 413 past it. Both close the connection, so the rest of an
  oversize body is never read either;
* a body that is not UTF-8 is answered 400;
* every body is JSON, whatever content type the client declared (``curl -d`` sends a form type): the app is handed
  the body with ``content-type: application/json``, so FastAPI parses it as JSON (400 when it is not) and nothing
  else. Other requests (GET, and any non-HTTP scope) pass through untouched.

Refusals have the app's error shape: a JSON object whose ``detail`` is one line saying what to change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 4 << 20  # bytes: serve.py --max-body
BODY_METHODS = {"POST", "PUT", "PATCH"}


async def refuse(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with ``{"detail": detail}`` and close the connection."""
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware: bodies of at most ``max_body`` bytes, UTF-8, handed on as JSON (see the module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_body: int = DEFAULT_MAX_BODY):
        self.app = app
        self.max_body = max_body

    def _too_large(self, size: str) -> str:
        return (f"the request body is {size}; the limit is {self.max_body} bytes (serve.py --max-body): send a "
                "smaller request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = [(k.lower(), v) for k, v in scope.get("headers", [])]
        declared = [v for k, v in headers if k == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                await refuse(send, 400, "the Content-Length header is not a number: send a valid request")
                return
            if length > self.max_body:
                logger.info("refused a %d-byte body on %s (limit %d)", length, scope.get("path"), self.max_body)
                await refuse(send, 413, self._too_large(f"{length} bytes"))
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                logger.info("refused a body over %d bytes on %s", self.max_body, scope.get("path"))
                await refuse(send, 413, self._too_large(f"more than {self.max_body} bytes"))
                return
            if not message.get("more_body", False):
                break
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            await refuse(send, 400, f"the request body is not UTF-8 text (byte {exc.start}): send a JSON object "
                                    "encoded as UTF-8")
            return
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in headers if k != b"content-type"] + [
            (b"content-type", b"application/json")]
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for the client to go away, as the server would

        await self.app(scope, replay, send)
