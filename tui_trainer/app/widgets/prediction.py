"""One image's prediction: the image as the model saw it, as a half-block thumbnail, beside its
top-k classes as bars with their probabilities. Plain values in (pixels, (name, probability)
pairs), so it needs nothing of the engine."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Static

from ...text import shown
from .picture import picture

THUMB = 32  # pixels a side: 32 columns and 16 rows
BAR = 20  # columns of a 100% bar, where they fit
NAME = 16  # columns of a class name at most
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int = BAR) -> str:
    """A horizontal bar `fraction` (0..1) of `width` columns long, in eighths of a column."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(width)


def bars(top: Sequence[tuple[str, float]], width: int = BAR, name_width: int | None = None) -> Text:
    """A line per class: its name, its bar and its probability; the first (the prediction) bold."""
    if name_width is None:
        name_width = max((len(name) for name, _ in top), default=0)
    text = Text(no_wrap=True, overflow="crop")
    for i, (name, p) in enumerate(top):
        if len(name) > name_width:
            name = name[:max(name_width - 1, 0)] + "…"
        style = "bold" if i == 0 else ""
        if i:
            text.append("\n")
        text.append(f"{name:<{name_width}} ", style)
        text.append(bar(p, width), "bold green" if i == 0 else "green")
        text.append(f" {p:6.1%}", style)
    return text


class TopBars(Widget):
    """The bars of `bars()`, as wide as the widget allows (20 columns at most for 100%)."""

    DEFAULT_CSS = "TopBars { width: 1fr; height: auto; }"

    def __init__(self, top: Sequence[tuple[str, float]], id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.top = list(top)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.top)

    def render(self) -> Text:
        names = min(max((len(name) for name, _ in self.top), default=0), NAME)
        return bars(self.top, max(4, min(BAR, self.size.width - names - 8)), names)


class PredictionView(Horizontal):
    DEFAULT_CSS = f"""
    PredictionView {{ height: auto; width: 1fr; }}
    PredictionView #prediction-thumb {{ width: {THUMB + 2}; height: auto; }}
    PredictionView #prediction-image {{ width: {THUMB}; height: {THUMB // 2}; }}
    PredictionView .prediction-caption {{ width: {THUMB}; color: $text-muted; }}
    PredictionView #prediction-bars {{ width: 1fr; height: auto; }}
    PredictionView #prediction-verdict {{ text-style: bold; margin-bottom: 1; }}
    """

    def __init__(self, pixels: np.ndarray | None, top: Sequence[tuple[str, float]], caption: str = "",
                 id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.pixels = pixels  # (3, H, W) uint8
        self.top = [(shown(name), float(p)) for name, p in top]  # class names come from the checkpoint
        self.caption = shown(caption)

    @property
    def verdict(self) -> str:
        if not self.top:
            return "no prediction"
        name, p = self.top[0]
        return f"{name} ({p:.1%})"

    def compose(self) -> ComposeResult:
        with Vertical(id="prediction-thumb"):
            if self.pixels is not None:
                yield picture(self.pixels, id="prediction-image")
            else:
                yield Static(Text("(no image)", style="dim"), id="prediction-image")
            if self.caption:
                yield Static(self.caption, classes="prediction-caption", markup=False)
        with Vertical(id="prediction-bars"):
            yield Static(self.verdict, id="prediction-verdict", markup=False)
            yield TopBars(self.top, id="prediction-table")
