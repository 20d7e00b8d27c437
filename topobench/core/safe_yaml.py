"""Reading YAML a user hands us (``algos.yaml``, ``studies.yaml``, ``--save-index 32,200``) without letting it take the
machine or hide a mistake.

* :func:`read_config_text` reads only a regular file of at most ``max_bytes`` (``--definitions /dev/zero`` or a FIFO is
  refused before anything is read, a huge file before it is loaded);
* :class:`BoundedLoader` (PyYAML's safe loader) refuses more than :data:`MAX_ALIASES` aliases and documents whose
  tree, with every alias expanded, holds more than ``max_nodes`` nodes (nested anchors, the "billion laughs", are
  counted by their expanded size without expanding them), and refuses a key given twice in one mapping (PyYAML lets
  the last one win silently);
* :func:`load_text` turns every YAML problem into one :class:`ConfigError` naming the source and line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from topobench.core.errors import ConfigError

MAX_CONFIG_BYTES = 4 << 20  # a configuration file beyond this is a mistake (algos.yaml is ~7 kB)
MAX_ALIASES = 1000  # alias references in one document
MAX_NODES = 200_000  # nodes of a document's tree with every alias expanded


def read_config_text(path: str | os.PathLike[str], what: str, fix: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The text of the regular file ``path``, at most ``max_bytes`` long; anything else (missing, a device, a FIFO, a
    folder, too large, not UTF-8) is a ConfigError ``<what> <path> …: <fix>``, raised before reading it."""
    path = Path(os.path.expanduser(os.fspath(path)))
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}; {fix}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ConfigError(f"{what} {path} is {kind}: {fix}")
    if info.st_size > max_bytes:
        raise ConfigError(f"{what} {path} is {info.st_size} bytes, more than the {max_bytes} a configuration file "
                          f"may have: {fix}")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # a file that grew since stat() is still read boundedly
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}; {fix}") from None
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path} is more than the {max_bytes} bytes a configuration file may have: {fix}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}): {fix}") from None


class YamlLimitError(yaml.YAMLError):
    """A document beyond the loader's alias or node budget, or a mapping with a key given twice."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with an alias count, an expanded-size budget (:attr:`max_nodes`) and no duplicate keys."""

    max_nodes = MAX_NODES

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlLimitError(f"more than {MAX_ALIASES} aliases (*name); write the values out",
                                     self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            size = expanded_size(node, self.max_nodes)
            if size > self.max_nodes:
                raise YamlLimitError(f"the document expands to more than {self.max_nodes} values (nested anchors "
                                     "and aliases count once per use); make it smaller", node.start_mark)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not _inside(key_node, node):
                    continue  # merged keys ('<<: *base') may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if first is not None:
                    raise YamlLimitError(f"key {key!r} is given twice in one mapping (first on line {first}); keep "
                                         "one", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _inside(inner: Any, outer: Any) -> bool:
    """Whether ``inner`` is written within ``outer``'s text (not merged in from an anchor elsewhere)."""
    return outer.start_mark.index <= inner.start_mark.index < max(outer.end_mark.index, outer.start_mark.index + 1)


def expanded_size(node: Any, limit: int) -> int:
    """Nodes of ``node``'s tree with every alias expanded, computed per distinct node (memoised), so a bomb of nested
    aliases is measured without being expanded; stops counting past ``limit``."""
    sizes: dict[int, int] = {}

    def size(n: Any, depth: int) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if depth > 1000:
            raise YamlLimitError("the document nests deeper than 1000 levels; flatten it", n.start_mark)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > limit:
                    break
        sizes[id(n)] = min(total, limit + 1)
        return sizes[id(n)]

    return size(node, 0)


def load_text(text: str, source: str, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """Parse ``text`` with ``loader``; any YAML problem is a ConfigError ``<source>:<line>: … ; fix …``."""
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, YamlLimitError):
            raise ConfigError(f"{where}: {problem}") from None
        raise ConfigError(f"{where}: malformed YAML ({problem}); fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{source}: the document nests too deeply; flatten it") from None
