"""Curves of many runs on one plot: one metric, x by epoch or by training time, a colour per run.

Each run keeps its colour while it stays selected (assigned from a hash of its name, moving on to
the next free colour when two runs collide), so adding a ninth run does not repaint the others.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

from ...events import EpochEnded
from ...log_axis import log_ticks
from ..session import thin
from .plots import MAX_POINTS, CachedPlot

# Distinct on dark and light themes; plotext takes RGB tuples.
PALETTE = [(86, 180, 233), (230, 159, 0), (0, 158, 115), (240, 228, 66), (204, 121, 167), (213, 94, 0),
           (0, 114, 178), (170, 170, 170), (120, 94, 240), (220, 38, 127), (100, 200, 100), (255, 176, 0)]
METRICS = {"test_acc": ("test accuracy %", 100.0), "train_acc": ("train accuracy %", 100.0),
           "val_acc": ("validation accuracy %", 100.0),  # runs with a validation split only
           "train_loss": ("train loss", 1.0), "lr": ("learning rate", 1.0)}
LOG_METRICS = ("train_loss", "lr")  # where a log axis can help


@dataclass
class RunCurve:
    """One run's epochs, or a group's: then `members` holds each run's, and the plot draws their
    mean with a min-max band."""
    name: str
    epochs: list[EpochEnded]
    members: list[list[EpochEnded]] = field(default_factory=list)


def assign_colours(names: list[str], previous: dict[str, int]) -> dict[str, int]:
    """A palette index per name: kept from `previous`, else from the name's hash, else the next free."""
    out: dict[str, int] = {n: previous[n] for n in names if n in previous}
    for name in names:
        if name in out:
            continue
        index = zlib.crc32(name.encode()) % len(PALETTE)
        taken = set(out.values())
        for step in range(len(PALETTE)):
            candidate = (index + step) % len(PALETTE)
            if candidate not in taken:
                index = candidate
                break
        out[name] = index
    return out


def band(members: list[list[EpochEnded]], metric: str, by_time: bool) -> tuple[list[float], ...]:
    """A group's (x, mean, low, high) at each epoch some member has the metric for: x the epoch, or
    the members' mean minutes of training by then."""
    at: dict[int, list[tuple[float, float]]] = {}
    for epochs in members:
        xs, ys = series(epochs, metric, by_time, thinned=False)
        for e, x, y in zip((e.epoch for e in epochs if getattr(e, metric) is not None), xs, ys):
            at.setdefault(e, []).append((x, y))
    points = [at[e] for e in sorted(at)]
    xs = [sum(x for x, _ in p) / len(p) for p in points]
    return (xs, [sum(y for _, y in p) / len(p) for p in points], [min(y for _, y in p) for p in points],
            [max(y for _, y in p) for p in points])


def series(epochs: list[EpochEnded], metric: str, by_time: bool,
           thinned: bool = True) -> tuple[list[float], list[float]]:
    """(x, y) of one run: x in epochs, or in minutes of training (cumulative epoch seconds)."""
    scale = METRICS[metric][1]
    xs, ys, clock = [], [], 0.0
    for e in epochs:
        clock += e.seconds or 0.0
        value = getattr(e, metric)
        if value is None:
            continue
        xs.append(clock / 60 if by_time else float(e.epoch))
        ys.append(value * scale)
    return thin(xs, ys, MAX_POINTS) if thinned else (xs, ys)


class OverlayPlot(CachedPlot):
    DEFAULT_CSS = """
    OverlayPlot { height: 1fr; min-height: 10; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.curves: list[RunCurve] = []
        self.metric = "test_acc"
        self.by_time = False
        self.log_y = False
        self.colours: dict[str, int] = {}

    def show(self, curves: list[RunCurve], metric: str | None = None, by_time: bool | None = None,
             log_y: bool | None = None) -> None:
        self.curves = list(curves)
        self.metric = metric or self.metric
        self.by_time = self.by_time if by_time is None else by_time
        self.log_y = self.log_y if log_y is None else log_y
        self.colours = assign_colours([c.name for c in self.curves], self.colours)
        self.changed()

    def colour_of(self, name: str) -> tuple[int, int, int] | None:
        index = self.colours.get(name)
        return PALETTE[index] if index is not None else None

    def drawn_series(self) -> list[tuple[str, list[float], list[float]]]:
        """What the plot shows: (run, xs, ys) for each run with points (tests read it)."""
        out = []
        for curve in self.curves:
            if curve.members:
                xs, ys, _, _ = band(curve.members, self.metric, self.by_time)
            else:
                xs, ys = series(curve.epochs, self.metric, self.by_time)
            if xs:
                out.append((curve.name, xs, ys))
        return out

    def draw(self, plt) -> None:  # noqa: ANN001
        label, _ = METRICS[self.metric]
        log = self.log_y and self.metric in LOG_METRICS
        groups = sum(1 for c in self.curves if c.members)
        what = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((groups, "group"), (len(self.curves) - groups, "run")) if n]
        plt.title(f"{label}{' (log)' if log else ''} of {' and '.join(what) or '0 runs'}")
        plt.xlabel("minutes of training" if self.by_time else "epoch")
        drawn = self.drawn_series()
        if not drawn:
            plt.title(f"{label}: select runs with space to overlay them" if not self.curves
                      else f"{label}: no epochs with this metric yet")
            return
        lo = hi = None
        bands = {c.name: band(c.members, self.metric, self.by_time) for c in self.curves if c.members}
        for name, xs, ys in drawn:
            lines = [(ys, "braille" if len(xs) > 1 else "dot")]
            if name in bands:  # a group: its mean, and its lowest and highest run as dots around it
                lines += [(bands[name][2], "dot"), (bands[name][3], "dot")]
            for values, marker in lines:
                if log:
                    # plotext's own log axis fails on a second build: plot log10 with our own ticks.
                    values = [math.log10(max(y, 1e-12)) for y in values]
                    lo = min(values) if lo is None else min(lo, min(values))
                    hi = max(values) if hi is None else max(hi, max(values))
                # No plotext legend: it covers the curves; the screen draws one below the plot.
                plt.plot(xs, values, color=self.colour_of(name), marker=marker)
        if log and lo is not None:
            ticks, labels = log_ticks(lo, hi if hi - lo > 1e-9 else lo + 1)
            if ticks:
                plt.yticks(ticks, labels)

