"""Names that select files (datasets, algorithms, saved indexes): one path component each, never a way out of the
folder they select from.

A name is letters, digits, ``-``, ``_``, ``.`` and ``+`` (a union of corpora: ``scifact+nfcorpus-minilm``), starting
with a letter or a digit, optionally followed by a training variant's ``@key=value,…``: no ``/``, no ``..``
component, no glob characters, no hidden files.
Every function that turns a user's name into a path (``datasets/<name>.hdf5``, ``results/<dataset>/…/<algorithm>/``,
``indexes/<dataset>/<algorithm>/``) checks it here first.
"""

from __future__ import annotations

import re

from topobench.core.errors import UnknownNameError

# A training variant's overrides follow an '@' (``scifact-minilm-topo@seed=14,weight=0.8``): '=', ',' and '+' are
# neither path separators nor glob characters.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-+]*(@[A-Za-z0-9_.\-=,+]+)?")
MAX_CHARS = 200


def is_safe_name(name: object) -> bool:
    """True when ``name`` can be used as one path component inside its folder."""
    return isinstance(name, str) and len(name) <= MAX_CHARS and SAFE_NAME.fullmatch(name) is not None


def check_name(name: object, what: str) -> str:
    """``name`` itself when it is safe (see the module docstring); otherwise an ``UnknownNameError`` naming the rule."""
    if not is_safe_name(name):
        raise UnknownNameError(f"invalid {what} name {name!r}: use letters, digits, '-', '_', '.' and '+' "
                               f"(starting with a letter or digit, at most {MAX_CHARS} characters, no '/'; "
                               "'@key=value,…' for a training variant)")
    return name  # type: ignore[return-value]
