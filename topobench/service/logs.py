"""Bounded log lines for the service: no client input can write a huge line into the server's log.

Why: a log record may quote what a client sent (an exception message holding the request body, a validation error
with the input); one 50 MB body once wrote two 150 MB lines. :class:`Truncate` cuts every record's message and every
line of its traceback to ``limit`` characters (saying how much was left out), and the traceback as a whole to
:data:`MAX_LINES` lines; :func:`bound_log_lines` puts it on every handler of the root logger and of uvicorn's loggers.
"""

from __future__ import annotations

import logging

LIMIT = 2000  # characters of one log line
MAX_LINES = 200  # lines of one traceback
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters]"


class Truncate(logging.Filter):
    """A handler filter that bounds a record's message and traceback (see the module docstring)."""

    def __init__(self, limit: int = LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > self.limit or "\n" in message:
            record.msg, record.args = _cut(" ".join(message.split()), self.limit), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            lines = record.exc_text.splitlines()
            kept = [_cut(line, self.limit) for line in lines[-MAX_LINES:]]
            if len(lines) > MAX_LINES:
                kept.insert(0, f"… [{len(lines) - MAX_LINES} more lines]")
            record.exc_text = "\n".join(kept)
        return True


def bound_log_lines(limit: int = LIMIT) -> None:
    """Put a :class:`Truncate` filter on every handler of the root logger and of uvicorn's loggers (once each)."""
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, Truncate) for f in handler.filters):
                handler.addFilter(Truncate(limit))
