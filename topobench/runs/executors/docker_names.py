"""Docker image references (``--image NAME``), checked before the daemon is asked.

The daemon answers a malformed reference (``'bad image!!'``, ``'UPPER/Case'``, ``''``) with an API error that the
Docker SDK raises as a traceback; checking the grammar here makes it one line naming the rule. The grammar is the
Docker distribution's (``[host[:port]/]path[:tag][@digest]``): path components in lower case letters and digits
joined by ``.``, ``_``, ``__`` or dashes; a tag of at most 128 word characters, dots and dashes; a name of at most 255
characters.
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
# A first component is a registry host only with a dot or a port in it, or as localhost (Docker's rule).
_DOMAIN = rf"(?:(?=[^/]*[.:\[])(?:{_HOST}|\[[0-9a-fA-F:]+\])(?::[0-9]+)?|localhost(?::[0-9]+)?)"
REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
MAX_NAME = 255


def check_image_reference(text: str) -> str:
    """``text`` when it is a valid image reference (``topobench:latest``, ``registry:5000/team/img:v1``), else a
    ValueError saying what a reference looks like."""
    found = REFERENCE.fullmatch(text)
    if not found or len(found["name"]) > MAX_NAME:
        raise ValueError(f"{text!r} is not a Docker image name: use lower-case letters, digits and . _ - in "
                         "name[:tag] (e.g. topobench:latest or registry:5000/team/topobench:v1)")
    return text
