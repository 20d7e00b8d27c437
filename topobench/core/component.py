"""The base every pluggable class (index, encoder, loss, miner) shares: its requirements and availability."""

from __future__ import annotations

import importlib
from typing import ClassVar


class Component:
    """Capabilities common to everything a plugin registers.

    Attributes:
        requires: modules that must import for the class to work (``("faiss",)``). Checked lazily, so registering the
            class never imports them.
        install_hint: what to install when a requirement is missing (``pip install -e '.[faiss]'``).
    """

    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this class cannot run here, or None when it can. Override for runtime checks (a JVM, weights)."""
        for module in cls.requires:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - any import failure makes the plugin unavailable
                hint = f"; install with {cls.install_hint}" if cls.install_hint else ""
                return f"cannot import {module} ({type(exc).__name__}: {exc}){hint}"
        return None

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring, for listings."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else cls.__name__
