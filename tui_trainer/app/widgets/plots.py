"""A PlotextPlot that rebuilds its figure only when its data, size or theme changed.

plotext rebuilds the whole figure on every render (5-25 ms for a few hundred points), and
Textual renders a widget again for reasons that have nothing to do with its data (layout,
focus, a screen coming back). Subclasses draw in `draw(plt)` and call `changed()` when their
data is new; everything else reuses the last build.
"""
from __future__ import annotations

import math

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from ...events import EpochEnded
from ...log_axis import log_ticks
from ..session import thin

MAX_POINTS = 300


class CachedPlot(PlotextPlot):
    """Subclasses override `draw(plt)` and call `changed()` after changing their data."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self._version = 0
        self._built_key: tuple | None = None
        self._built: RenderResult = Text("")
        self.builds = 0  # how many figures were built: tests check that redraws are data-driven

    def changed(self) -> None:
        self._version += 1
        self.refresh()

    def draw(self, plt) -> None:  # noqa: ANN001 - plotext's figure
        raise NotImplementedError

    def render(self) -> RenderResult:
        key = (self._version, self.size.width, self.size.height, self.app.theme, self.theme)
        if key == self._built_key:
            return self._built
        plt = self.plt
        plt.clear_figure()
        self.draw(plt)
        self._built = super().render()
        self._built_key = key
        self.builds += 1
        return self._built


def log10_series(values: list[float], floor_ratio: float = 1e-3) -> tuple[list[float], float]:
    """log10 of each value; zeros (warmup starts, decays to 0) are clipped at peak*floor_ratio."""
    peak = max((v for v in values if v > 0), default=1.0)
    floor = peak * floor_ratio
    return [math.log10(max(v, floor)) for v in values], floor


def draw_lr(plt, xs: list[float], lrs: list[float], *, planned: tuple[list[float], list[float]] | None = None,
            title: str = "learning rate (log)") -> None:  # noqa: ANN001
    """LR against epochs as log10(lr) on a linear axis with our own tick labels (plotext's log
    axes fail on the second build). `planned` is drawn faint under the actual series."""
    plt.title(title)
    all_values = list(lrs) + (list(planned[1]) if planned else [])
    if not all_values:
        return
    _, floor = log10_series(all_values)
    lo = hi = None
    if planned and planned[0]:
        px, py = thin(*planned, MAX_POINTS)
        ly = [math.log10(max(v, floor)) for v in py]
        plt.plot(px, ly, color="gray", marker="braille")
        lo, hi = min(ly), max(ly)
    if xs:
        tx, ty = thin(xs, lrs, MAX_POINTS)
        ly = [math.log10(max(v, floor)) for v in ty]
        plt.plot(tx, ly, color="cyan", marker="braille")
        lo = min(ly) if lo is None else min(lo, min(ly))
        hi = max(ly) if hi is None else max(hi, max(ly))
    if lo is not None and hi is not None:
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        plt.ylim(lo, hi)
        ticks, labels = log_ticks(lo, hi)
        if ticks:
            plt.yticks(ticks, labels)
    plt.xlabel("epoch")


def epoch_series(epochs: list[EpochEnded], attr: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """(epoch, value * scale) for the epochs that have `attr`, thinned to MAX_POINTS."""
    pts = [(float(e.epoch), getattr(e, attr) * scale) for e in epochs if getattr(e, attr) is not None]
    return thin([p[0] for p in pts], [p[1] for p in pts], MAX_POINTS)
