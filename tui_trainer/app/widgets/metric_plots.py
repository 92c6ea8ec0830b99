"""The training screen's plots: accuracy, loss and LR, redrawn only when their data changed."""
from __future__ import annotations

import math

from ...events import EpochEnded
from ..session import thin
from .plots import MAX_POINTS, CachedPlot, draw_lr, epoch_series


class _EpochPlot(CachedPlot):
    """Per-epoch points over the running per-batch series, so a plot has a line from the first
    seconds of a run instead of staying blank for its first epoch; x in fractional epochs."""

    title = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.epochs: list[EpochEnded] = []
        self.batch_xs: list[float] = []
        self.batch_ys: list[float] = []
        self.note = ""  # said in the title, e.g. when the test split is evaluated only at the end
        self._key: tuple | None = None

    def set_data(self, epochs: list[EpochEnded], batch_xs: list[float] = (), batch_ys: list[float] = (),
                 note: str = "") -> None:
        key = (len(epochs), epochs[-1] if epochs else None, len(batch_xs), batch_xs[-1] if batch_xs else None, note)
        if key == self._key:
            return
        self._key = key
        self.epochs, self.batch_xs, self.batch_ys, self.note = list(epochs), list(batch_xs), list(batch_ys), note
        self.changed()

    def plot_batches(self, plt, label: str, scale: float = 1.0) -> None:  # noqa: ANN001
        if self.batch_xs:
            xs, ys = thin(self.batch_xs, [y * scale for y in self.batch_ys], MAX_POINTS)
            plt.plot(xs, ys, label=label, color="gray", marker="braille")

    def plot_series(self, plt, attr: str, label: str, color: str, scale: float = 1.0) -> bool:  # noqa: ANN001
        xs, ys = epoch_series(self.epochs, attr, scale)
        if not xs:
            return False
        # Points, not a line, while there are few: an epoch value is one measurement.
        marker = "braille" if len(xs) > 4 else "dot"
        plt.plot(xs, ys, label=label, color=color, marker=marker)
        return True

    def axes(self, plt) -> None:  # noqa: ANN001
        plt.title(self.title + (f" ({self.note})" if self.note else ""))
        plt.xlabel("epoch")
        xs = [float(e.epoch) for e in self.epochs] + self.batch_xs
        if xs:
            first, last = min(xs), max(xs)
            lo = math.floor(first) if not self.batch_xs else first
            plt.xlim(lo - 0.05, max(last, lo + 1) + 0.05)
            if last - lo <= 12:  # whole epochs as ticks while they fit
                ticks = list(range(math.floor(lo), math.ceil(max(last, lo + 1)) + 1))
                plt.xticks(ticks, [str(t) for t in ticks])


class AccuracyPlot(_EpochPlot):
    title = "accuracy %"

    def draw(self, plt) -> None:  # noqa: ANN001
        self.axes(plt)
        self.plot_batches(plt, "batch", 100)
        self.plot_series(plt, "train_acc", "train", "blue", 100)
        self.plot_series(plt, "test_acc", "test", "green", 100)
        self.plot_series(plt, "val_acc", "val", "magenta", 100)  # nothing without a validation split


class LossPlot(_EpochPlot):
    title = "loss"

    def draw(self, plt) -> None:  # noqa: ANN001
        self.axes(plt)
        self.plot_batches(plt, "batch")
        self.plot_series(plt, "train_loss", "train", "blue")
        self.plot_series(plt, "test_loss", "test", "green")
        self.plot_series(plt, "val_loss", "val", "magenta")


class TrainingLRPlot(CachedPlot):
    """The LR the run used (per batch, downsampled) over the planned schedule, faint."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.planned: tuple[list[float], list[float]] | None = None
        self._key: tuple | None = None

    def set_data(self, xs: list[float], ys: list[float], planned: tuple[list[float], list[float]] | None) -> None:
        key = (len(xs), xs[-1] if xs else None, id(planned))
        if key == self._key:
            return
        self._key = key
        self.xs, self.ys, self.planned = list(xs), list(ys), planned
        self.changed()

    def draw(self, plt) -> None:  # noqa: ANN001
        draw_lr(plt, self.xs, self.ys, planned=self.planned, title="learning rate (log)")
