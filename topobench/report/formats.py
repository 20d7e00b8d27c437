"""Which image files a plot can be written as: the suffix of ``-o`` names the format, checked before any drawing."""

from __future__ import annotations

from pathlib import Path

from topobench.core.errors import ConfigError


def image_format(out: Path) -> str:
    """The image format ``out``'s suffix names (``png`` without one); an unsupported suffix is a ``ConfigError``."""
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = out.suffix.lstrip(".").lower() or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise ConfigError(f"cannot draw {out}: {fmt!r} is not an image format matplotlib writes; use one of "
                          f"{', '.join(sorted(supported))} (e.g. -o {out.with_suffix('.png')})")
    return fmt
