"""Images in the terminal, through textual-image: Sixel or the Kitty graphics protocol where the
terminal says it has them, coloured half cells (two pixels a character) elsewhere.

textual-image asks the terminal what it can draw when it is imported, which it cannot do once
Textual owns the terminal: `choose()` runs before the app does. The served browser view
(textual-serve carries no graphics), a process without a terminal (tests) and
TUI_TRAINER_IMAGES=halfcell always get half cells.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from textual.widget import Widget

MODE_ENV = "TUI_TRAINER_IMAGES"
WAYS = {"sixel": "Sixel graphics", "tgp": "Kitty graphics", "halfcell": "half blocks"}  # by textual-image's module
_chosen: type[Widget] | None = None


def choose(force_halfcell: bool = False) -> str:
    """Decide, once, how images are drawn; returns the way in words ("half blocks", "Sixel graphics")."""
    global _chosen
    halfcell = force_halfcell or os.environ.get(MODE_ENV) == "halfcell" or not (
        sys.__stdout__ and sys.__stdout__.isatty())
    from textual_image.renderable import UnicodeImage

    try:
        from textual_image.widget import HalfcellImage, Image
    except ZeroDivisionError:
        # A terminal that reports a size of 0 columns (a bare pty) breaks textual-image 0.12's cell
        # size at import: a cell of xterm's 10x20 pixels stands in, as textual-image does itself
        # when the terminal does not answer, and the import goes through.
        from textual_image import _terminal

        _terminal.get_cell_size._result = _terminal.CellSize(10, 20)
        from textual_image.widget import HalfcellImage, Image

    # Unicode is textual-image's answer for no terminal at all: its half cells look better.
    _chosen = HalfcellImage if halfcell or Image._Renderable is UnicodeImage else Image
    return way()


def way() -> str:
    renderable = getattr(_chosen, "_Renderable", None)
    return WAYS.get(renderable.__module__.rsplit(".", 1)[-1] if renderable else "", "half blocks")


def picture(pixels: np.ndarray, *, id: str | None = None, classes: str | None = None) -> Widget:  # noqa: A002
    """A widget showing a (3, H, W) uint8 image, scaled to the size its CSS gives it."""
    from PIL import Image as PILImage

    if _chosen is None:
        choose()
    rgb = np.ascontiguousarray(np.asarray(pixels).transpose(1, 2, 0))
    return _chosen(PILImage.fromarray(rgb if rgb.shape[2] == 3 else rgb[..., 0]), id=id, classes=classes)
