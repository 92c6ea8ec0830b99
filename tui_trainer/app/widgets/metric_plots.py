"""The training screen's plots: accuracy, loss and LR, redrawn only when their data changed."""
from __future__ import annotations

from ...training.events import EpochEnded
from .plots import CachedPlot, draw_lr, epoch_series


class _EpochPlot(CachedPlot):
    """Plots series computed from the finished epochs; `set_epochs` is a no-op without news."""

    title = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.epochs: list[EpochEnded] = []
        self._key: tuple | None = None

    def set_epochs(self, epochs: list[EpochEnded], extra_key: object = None) -> None:
        key = (len(epochs), epochs[-1] if epochs else None, extra_key)
        if key == self._key:
            return
        self._key = key
        self.epochs = list(epochs)
        self.changed()

    def plot_series(self, plt, attr: str, label: str, color: str, scale: float = 1.0) -> bool:  # noqa: ANN001
        xs, ys = epoch_series(self.epochs, attr, scale)
        if not xs:
            return False
        marker = "braille" if len(xs) > 1 else "dot"
        plt.plot(xs, ys, label=label, color=color, marker=marker)
        return True

    def axes(self, plt) -> None:  # noqa: ANN001
        plt.title(self.title)
        plt.xlabel("epoch")
        if self.epochs:
            last = max(e.epoch for e in self.epochs)
            first = min(e.epoch for e in self.epochs)
            plt.xlim(first - 0.05, max(last, first + 1) + 0.05)
            if last - first <= 12:  # whole epochs as ticks while they fit
                ticks = list(range(first, max(last, first + 1) + 1))
                plt.xticks(ticks, [str(t) for t in ticks])


class AccuracyPlot(_EpochPlot):
    title = "accuracy %"

    def draw(self, plt) -> None:  # noqa: ANN001
        self.axes(plt)
        self.plot_series(plt, "train_acc", "train", "blue", 100)
        self.plot_series(plt, "test_acc", "test", "green", 100)


class LossPlot(_EpochPlot):
    title = "loss"

    def draw(self, plt) -> None:  # noqa: ANN001
        self.axes(plt)
        self.plot_series(plt, "train_loss", "train", "blue")
        self.plot_series(plt, "test_loss", "test", "green")


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
