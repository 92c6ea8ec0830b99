"""The LR finder's curve: the smoothed loss against log10(lr), the suggestion marked."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...log_axis import log_ticks
from .plots import CachedPlot

if TYPE_CHECKING:
    from ...training.lr_find import LRFindResult


class LRFindPlot(CachedPlot):
    """Smoothed loss against log10(lr), with a vertical line at the suggestion."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.result: LRFindResult | None = None

    def show(self, result: LRFindResult) -> None:
        self.result = result
        self.changed()

    def draw(self, plt) -> None:  # noqa: ANN001 - plotext's figure
        r = self.result
        plt.title("smoothed loss against LR (log)")
        if r is None or not r.lrs:
            return
        # Log x drawn on a linear axis with our own ticks: plotext's log axes fail on a second build.
        xs = [math.log10(lr) for lr in r.lrs]
        plt.plot(xs, r.losses, color="cyan", marker="braille")
        if r.suggested_lr is not None:
            plt.vline(math.log10(r.suggested_lr), color="red")
        ticks, labels = log_ticks(xs[0], xs[-1])
        if ticks:
            plt.xticks(ticks, labels)
        plt.xlabel("optimizer.lr")
