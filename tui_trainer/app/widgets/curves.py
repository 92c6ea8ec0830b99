"""The checkpoints screen's curves: a run's accuracy, with another run's test accuracy overlaid."""
from __future__ import annotations

from ...training.events import EpochEnded
from .plots import CachedPlot, epoch_series


class CurvesPlot(CachedPlot):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.run_name = ""
        self.epochs: list[EpochEnded] = []
        self.other_name = ""
        self.other: list[EpochEnded] = []
        self._key: tuple | None = None

    def set_runs(self, name: str, epochs: list[EpochEnded], other_name: str = "",
                 other: list[EpochEnded] | None = None) -> None:
        other = other or []
        key = (name, len(epochs), epochs[-1] if epochs else None, other_name, len(other),
               other[-1] if other else None)
        if key == self._key:
            return
        self._key = key
        self.run_name, self.epochs, self.other_name, self.other = name, list(epochs), other_name, list(other)
        self.changed()

    def draw(self, plt) -> None:  # noqa: ANN001
        plt.title("accuracy % " + (f"(◆ {self.other_name} overlaid)" if self.other_name else "(o: compare)"))
        plt.xlabel("epoch")
        drawn = False
        for epochs, attr, label, color in ((self.epochs, "train_acc", "train", "blue"),
                                           (self.epochs, "test_acc", "test", "green"),
                                           (self.other, "test_acc", "◆ test", "magenta")):
            xs, ys = epoch_series(epochs, attr, 100)
            if xs:
                plt.plot(xs, ys, label=label, color=color, marker="braille" if len(xs) > 1 else "dot")
                drawn = True
        if not drawn:
            plt.title("accuracy % (no finished epochs)")
            return
        last = max(e.epoch for e in self.epochs + self.other)
        if last <= 12:  # whole epochs as ticks while they fit
            ticks = list(range(1, max(last, 2) + 1))
            plt.xticks(ticks, [str(t) for t in ticks])
