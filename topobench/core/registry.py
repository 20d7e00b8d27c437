"""The plugin manager: loads built-in plugins from ``plugins/**`` by path and external ones from entry points, and
the one way to construct what they registered (:meth:`Registry.create`).

Built-ins are the ``*.py`` files under the repository's ``plugins/`` folder (one backend per file). External plugins are
packages that declare an entry point in the group ``topobench``::

    [project.entry-points.topobench]
    myindex = "my_package.plugin"

``TOPOBENCH_PLUGINS`` (comma-separated entry-point names) restricts which external plugins load; unset loads all of
them, an empty value loads none. ``TOPOBENCH_PLUGIN_DIRS`` (``os.pathsep``-separated folders) adds more folders of
plugin files, loaded by path like the built-ins; a folder that does not exist is a warning naming it.

Besides component classes (indexes, encoders, losses, miners), plugins declare values: training recipes (a dict of
training-configuration fields) and metrics (a :class:`~topobench.core.metric_spec.MetricSpec`), kept in
:attr:`Registry.declared`.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from topobench.core import hookspecs
from topobench.core.arguments import check_values
from topobench.core.errors import ConfigError, PluginError, UnavailableError, UnknownNameError

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "plugins"
ENTRY_POINT_GROUP = "topobench"
ALLOWLIST_ENV = "TOPOBENCH_PLUGINS"
EXTRA_DIRS_ENV = "TOPOBENCH_PLUGIN_DIRS"
KINDS = ("indexes", "encoders", "losses", "miners")
DECLARED_KINDS = ("recipes", "metrics")  # values, not classes: a recipe dict, a MetricSpec
SINGULAR = {"indexes": "algorithm", "encoders": "encoder", "losses": "loss", "miners": "miner", "recipes": "recipe",
            "metrics": "metric"}


@dataclass(frozen=True)
class Registration:
    """One registered name: which class provides it and which plugin registered it."""

    kind: str
    name: str
    cls: type
    plugin: str

    def unavailable_reason(self) -> str | None:
        return self.cls.unavailable_reason()


@dataclass(frozen=True)
class Declaration:
    """One declared value (a recipe, a metric) and the plugin that declared it."""

    kind: str
    name: str
    value: Any
    plugin: str


@dataclass
class PluginInfo:
    """What ``run.py --list`` shows for one plugin."""

    name: str
    source: str
    registered: list[Registration] = field(default_factory=list)
    declared: list[Declaration] = field(default_factory=list)
    load_error: str | None = None


class Registry:
    """Everything the plugins registered, by kind and name; lookups raise a clear error on unknown names."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        self.declared: dict[str, dict[str, Declaration]] = {kind: {} for kind in DECLARED_KINDS}
        self.plugins: dict[str, PluginInfo] = {}

    def declare(self, kind: str, name: str, value: Any, plugin: str) -> None:
        """Keep a plugin's recipe or metric; a bad name, a value of the wrong type or a second declaration of one
        name is a ``PluginError`` naming the plugin."""
        table = self.declared[kind]
        if not isinstance(name, str) or not _DECLARED_NAME[kind].fullmatch(name):
            raise PluginError(f"plugin {plugin!r} declared a {SINGULAR[kind]} with an invalid name {name!r}: use "
                              f"lower-case letters, digits, '_' and single '-' inside, e.g. my_loss-v2")
        if name in table:
            raise PluginError(f"{SINGULAR[kind]} {name!r} is declared twice: by plugin {table[name].plugin!r} and by "
                              f"plugin {plugin!r}; rename one of them")
        _check_declared(kind, name, value, plugin)
        declaration = Declaration(kind, name, value, plugin)
        table[name] = declaration
        self.plugins[plugin].declared.append(declaration)

    def add(self, kind: str, name: str, cls: type, plugin: str) -> None:
        table = self.entries[kind]
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {SINGULAR[kind]} with an invalid name {name!r}")
        if name in table:
            first = table[name].plugin
            raise PluginError(
                f"{SINGULAR[kind]} {name!r} is registered twice: by plugin {first!r} and by plugin {plugin!r}; "
                f"remove or rename one of them (or leave one out with {ALLOWLIST_ENV})"
            )
        base = _base_class(kind)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"plugin {plugin!r} registered {SINGULAR[kind]} {name!r} as {cls!r}, which is not a subclass of "
                f"{base.__module__}.{base.__name__}"
            )
        registration = Registration(kind, name, cls, plugin)
        table[name] = registration
        self.plugins[plugin].registered.append(registration)

    def get(self, kind: str, name: str) -> Registration:
        table = self.entries[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise UnknownNameError(
                f"unknown {SINGULAR[kind]} {name!r}; known {kind}: {known} (see `python run.py --list`)"
            )
        return table[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def unavailable_reason(self, kind: str, name: str) -> str | None:
        """Why the registered ``kind`` ``name`` cannot run here, or None; an unknown name is an ``UnknownNameError``."""
        return self.get(kind, name).unavailable_reason()

    def create(self, kind: str, name: str, /, *args: Any, check_available: bool = True, **kwargs: Any) -> Any:
        """Construct the registered ``kind`` ``name`` as ``cls(*args, **kwargs)``: the one way to build a component.

        Errors, each one line naming the fix: an unknown name is an ``UnknownNameError`` (listing the known names);
        with ``check_available`` (default), a class that cannot run here is an ``UnavailableError`` with its reason;
        arguments that do not fit the constructor, in number or in annotated type (``depth='abc'`` for
        ``depth: int``), are a ``ConfigError`` naming the parameters it takes. Errors the constructor itself raises
        pass through unchanged.
        """
        registration = self.get(kind, name)
        reason = registration.unavailable_reason() if check_available else None
        if reason:
            raise UnavailableError(f"{SINGULAR[kind]} {name!r} is unavailable: {reason}")
        signature = inspect.signature(registration.cls)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) or "no arguments"
            raise ConfigError(f"{SINGULAR[kind]} {name!r} cannot be built with ({given}): {exc}; it takes "
                              f"{_parameters(signature)}") from None
        check_values(registration.cls, f"{SINGULAR[kind]} {name!r}", *args, **kwargs)  # annotated types, NaN
        return registration.cls(*args, **kwargs)


# Recipe names are the last part of a dataset name (<corpus>-<encoder>-<recipe>); metric names are CLI axis names.
_DECLARED_NAME = {"recipes": re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*"),
                  "metrics": re.compile(r"[a-z0-9_]+(?:[-@.][a-z0-9_]+)*")}


def _check_declared(kind: str, name: str, value: Any, plugin: str) -> None:
    if kind == "metrics":
        from topobench.core.metric_spec import MetricSpec

        if not isinstance(value, MetricSpec):
            raise PluginError(f"plugin {plugin!r} declared metric {name!r} as {value!r}, which is not a "
                              "topobench.core.metric_spec.MetricSpec")
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise PluginError(f"plugin {plugin!r} declared recipe {name!r} as {value!r}: a recipe is a dict of training "
                          "configuration fields, e.g. {'loss': 'my_loss', 'loss_args': {'alpha': 2.0}}")


def _parameters(signature: inspect.Signature) -> str:
    """``(metric, M, efConstruction=40)``: a constructor's parameters as a user writes them (annotations left out)."""
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def _base_class(kind: str) -> type:
    if kind == "indexes":
        from topobench.core.indexes import Index

        return Index
    if kind == "encoders":
        from topobench.core.encoders import Encoder

        return Encoder
    if kind == "losses":
        from topobench.core.losses import Loss

        return Loss
    from topobench.core.miners import Miner

    return Miner


def _load_module_from_path(path: Path) -> ModuleType:
    module_name = "topobench_plugin_" + "_".join(path.with_suffix("").parts[-3:]).replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _plugin_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*.py") if not p.name.startswith("_"))


def _allowed_entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    allow = os.environ.get(ALLOWLIST_ENV)
    if allow is None:
        return eps
    wanted = {name.strip() for name in allow.split(",") if name.strip()}
    missing = wanted - {ep.name for ep in eps}
    if missing:
        logger.warning("%s names plugins that are not installed: %s", ALLOWLIST_ENV, ", ".join(sorted(missing)))
    return [ep for ep in eps if ep.name in wanted]


def build_registry(extra_dirs: list[Path] | None = None) -> Registry:
    """Load every plugin and collect what it registers. A plugin that fails to import is listed with its error."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()

    sources: list[tuple[str, str, object]] = []
    dirs = [BUILTIN_DIR, *(extra_dirs or [])]
    for entry in (p for p in os.environ.get(EXTRA_DIRS_ENV, "").split(os.pathsep) if p):
        if Path(entry).is_dir():
            dirs.append(Path(entry))
        else:
            logger.warning("%s names %s, which is not a folder; no plugins loaded from it", EXTRA_DIRS_ENV, entry)
    for folder in dirs:
        for path in _plugin_files(folder):
            name = str(path.relative_to(folder.parent).with_suffix("")).replace(os.sep, ".")
            sources.append((name, str(path), path))
    for ep in _allowed_entry_points():
        sources.append((ep.name, f"entry point {ep.value}", ep))

    for name, source, target in sources:
        info = PluginInfo(name=name, source=source)
        registry.plugins[name] = info
        try:
            module = _load_module_from_path(target) if isinstance(target, Path) else target.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must never break the others
            info.load_error = f"{type(exc).__name__}: {exc}"
            logger.warning("plugin %s could not be loaded: %s", name, info.load_error)
            continue
        pm.register(module, name=name)

    pm.check_pending()
    for kind in KINDS:
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            plugin_name = impl.plugin_name
            impl.function(register=functools.partial(registry.add, kind, plugin=plugin_name))
    for kind in DECLARED_KINDS:
        for impl in getattr(pm.hook, f"register_{kind}").get_hookimpls():
            impl.function(register=functools.partial(registry.declare, kind, plugin=impl.plugin_name))
    return registry


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    return build_registry()
