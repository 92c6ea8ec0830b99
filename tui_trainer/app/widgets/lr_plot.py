"""The setup screen's LR schedule over the whole planned run."""
from __future__ import annotations

from ...config import Config
from ...training.schedules import describe, lr_at
from .plots import MAX_POINTS, CachedPlot, draw_lr


def schedule_points(cfg: Config, steps_per_epoch: int, points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """The schedule's LR at `points` steps spread over the run, as (epochs, lr).

    The same `lr_at` the trainer and `lr_curve` use, sampled instead of evaluated at every step:
    200 epochs of CIFAR at batch 32 are 300,000 steps, too many to compute on the UI thread at
    every keystroke. The samples include every epoch boundary when there are few epochs, so the
    step schedule's drops land where they are.
    """
    steps_per_epoch = max(1, steps_per_epoch)
    total = cfg.run.epochs * steps_per_epoch
    if total <= points:
        steps = list(range(total))
    else:
        steps = sorted({round(i * (total - 1) / (points - 1)) for i in range(points)}
                       | {round(m * steps_per_epoch) for m in cfg.schedule.milestones if m * steps_per_epoch < total}
                       | {max(0, round(m * steps_per_epoch) - 1) for m in cfg.schedule.milestones
                          if 0 < m * steps_per_epoch <= total})
    xs = [s / steps_per_epoch for s in steps]
    ys = [lr_at(cfg.schedule, cfg.optimizer.lr, s, steps_per_epoch, total) for s in steps]
    return xs, ys


class LRSchedulePlot(CachedPlot):
    """log10(lr) over the planned run; `show(cfg, steps_per_epoch)` redraws only on a change."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self._key: tuple | None = None
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._title = "learning rate"

    def show(self, cfg: Config | None, steps_per_epoch: int) -> None:
        if cfg is None:
            key = None
        else:
            key = (repr(cfg.schedule), cfg.optimizer.lr, cfg.run.epochs, steps_per_epoch)
        if key == self._key:
            return
        self._key = key
        if cfg is None:
            self._xs, self._ys, self._title = [], [], "learning rate (fix the invalid fields)"
        else:
            self._xs, self._ys = schedule_points(cfg, steps_per_epoch)
            self._title = f"LR, log scale: {describe(cfg.schedule)}"
        self.changed()

    @property
    def points(self) -> tuple[list[float], list[float]]:
        return self._xs, self._ys

    def draw(self, plt) -> None:  # noqa: ANN001
        draw_lr(plt, self._xs, self._ys, title=self._title)
