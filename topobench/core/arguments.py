"""Checking argument values against a constructor's (or method's) annotated types, before anything runs.

``algos.yaml`` args, ``set_query_arguments`` groups, stage options and loss/miner/encoder options reach plugin code as
whatever YAML or the command line made of them: ``M: sixteen`` is a string, ``1e3`` is a string in YAML, ``.nan`` is
a float. Binding them to the signature catches the wrong *number* of values; this catches the wrong *kind* of value,
up front, instead of a traceback inside a child process minutes later.

Only annotations this module understands are checked (``int``, ``float``, ``bool``, ``str``, ``None``, unions and
``Optional``, ``Literal``, ``list``/``tuple``/``dict`` and plain classes); ``Any``, missing or unresolvable annotations
accept anything. ``int`` refuses ``True``; ``float`` takes whole numbers but refuses NaN and infinities.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from topobench.core.errors import ConfigError

_NUMBERS = (int, float)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of ``func`` ({} when they cannot be resolved: nothing is then checked)."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - an annotation naming something unimportable is simply not checked
        return {}


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is acceptable for the annotation ``hint`` (see the module docstring)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(fits(value, option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, _NUMBERS) and not isinstance(value, bool) and math.isfinite(value)
    if origin in (list, tuple, set, frozenset, dict) or origin in (Sequence, Mapping):
        container = {Sequence: (list, tuple), Mapping: dict}.get(origin, origin)
        if not isinstance(value, container) or isinstance(value, str):
            return False
        args = typing.get_args(hint)
        if isinstance(value, dict):
            return len(args) != 2 or all(fits(k, args[0]) and fits(v, args[1]) for k, v in value.items())
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(fits(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(fits(v, args[0]) for v in value)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a typing construct this module does not know: accept


def describe(hint: Any) -> str:
    """An annotation as a user reads it: ``int``, ``float``, ``int | None``."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def misfit(name: str, value: Any, hint: Any) -> str:
    """``M='sixteen' should be of type int``: the words for a value that does not fit its annotation."""
    finite = " and finite" if isinstance(value, float) and not math.isfinite(value) else ""
    return f"{name}={value!r} should be of type {describe(hint)}{finite}"


def check_values(func: Callable[..., Any], where: str, *args: Any, **kwargs: Any) -> None:
    """Bind ``args``/``kwargs`` to ``func``'s signature (a class: its constructor) and check each value against its
    annotation; the first misfit is a ``ConfigError`` naming ``where``, the parameter, the value and the type."""
    target = func.__init__ if isinstance(func, type) else func
    signature = inspect.signature(func)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    hints = _hints(target)
    for name, value in bound.arguments.items():
        hint = hints.get(name, inspect.Parameter.empty)
        kind = signature.parameters[name].kind
        values = (list(value) if kind is inspect.Parameter.VAR_POSITIONAL
                  else list(value.values()) if kind is inspect.Parameter.VAR_KEYWORD else [value])
        for v in values:
            if not fits(v, hint):
                raise ConfigError(f"{where}: {misfit(name, v, hint)}; fix the value")


INT64_MAX = (1 << 63) - 1  # the largest whole number a C library (faiss, hnswlib) takes

Range = tuple[float | None, float | None]


def describe_range(low: float | None, high: float | None) -> str:
    """``2..512``, ``>= 1``, ``<= 10``: a declared range as a user reads it."""
    if low is not None and high is not None:
        return f"{low:g}..{high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "any value"


def check_ranges(func: Callable[..., Any], ranges: Mapping[str, Range], where: str, *args: Any) -> None:
    """Bind ``args`` to ``func``'s signature (a class: its constructor) and check each number against its declared
    ``ranges`` entry (``{"M": (2, 512)}``: inclusive, ``None`` for an open end), and every whole number against what a
    machine integer holds; the first value outside is a ``ConfigError`` naming ``where``, the parameter and the range.

    Called after :func:`check_values`, so the arguments already bind and have their annotated types."""
    signature = inspect.signature(func)
    try:
        bound = signature.bind(*args)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        values = (list(value) if kind is inspect.Parameter.VAR_POSITIONAL
                  else list(value.values()) if kind is inspect.Parameter.VAR_KEYWORD else [value])
        for v in values:
            if not isinstance(v, _NUMBERS) or isinstance(v, bool):
                continue
            if isinstance(v, int) and abs(v) > INT64_MAX:
                raise ConfigError(f"{where}: {name}={v} is too large for a machine integer (at most {INT64_MAX}); "
                                  "fix the value")
            low, high = ranges.get(name, (None, None))
            if (low is not None and v < low) or (high is not None and v > high):
                raise ConfigError(f"{where}: {name}={v!r} is outside its range {describe_range(low, high)}; fix the "
                                  "value")
