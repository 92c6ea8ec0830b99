"""Images as half-block characters: '▀' with the top pixel as foreground and the bottom one as
background, so a 16x16 thumbnail takes 16 columns and 8 rows. Needs a truecolor terminal to look
right; on 256 colors Rich maps each pixel to the nearest palette entry."""
from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ...text import shown

HALF = "▀"


def downscale(image: np.ndarray, size: int) -> np.ndarray:
    """A (3, H, W) uint8 image averaged down to (3, size, size) (H and W multiples of size),
    or picked by nearest neighbour otherwise."""
    image = np.asarray(image)
    c, h, w = image.shape
    if h == size and w == size:
        return image
    if h % size == 0 and w % size == 0:
        return image.reshape(c, size, h // size, size, w // size).mean(axis=(2, 4)).round().astype(np.uint8)
    ys = (np.arange(size) * h // size).clip(0, h - 1)
    xs = (np.arange(size) * w // size).clip(0, w - 1)
    return image[:, ys][:, :, xs]


def half_block(image: np.ndarray, size: int | None = 16) -> Text:
    """Rich Text for a (3, H, W) uint8 image; `size` downscales it first (None: as is)."""
    img = downscale(image, size) if size else np.asarray(image)
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    _, h, w = img.shape
    pixels = img.transpose(1, 2, 0).astype(int)  # H, W, 3
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, h, 2):
        for x in range(w):
            top = pixels[y, x]
            style = Style(color=Color.from_rgb(*top))
            if y + 1 < h:
                style += Style(bgcolor=Color.from_rgb(*pixels[y + 1, x]))
            text.append(HALF, style)
        if y + 2 < h:
            text.append("\n")
    return text


class Thumbnail(Vertical):
    """One image and two lines of caption under it."""

    def __init__(self, image: np.ndarray, caption: str, detail: str = "", size: int = 16,
                 classes: str | None = None, tooltip: str | None = None) -> None:
        super().__init__(classes=("thumbnail " + (classes or "")).strip())
        if tooltip:
            self.tooltip = tooltip
        self.image = image
        self.caption = shown(caption)  # class names, from a checkpoint or a data folder
        self.detail = shown(detail)
        self.size_px = size

    def compose(self) -> ComposeResult:
        yield Static(half_block(self.image, self.size_px), classes="thumb-image")
        yield Static(self.caption, classes="thumb-caption", markup=False)
        if self.detail:
            yield Static(self.detail, classes="thumb-detail", markup=False)
