"""The Runs screen's overlay: the curves of the runs it is given, a colour each, and a legend. It
owns the worker that reads their metrics.csv (each file again only once it changed)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from ...events import EpochEnded
from ...text import shown
from ...workspace import folder
from .overlay_plot import METRICS, OverlayPlot, RunCurve


@dataclass
class CurvesLoaded(Message):
    curves: list[RunCurve]


class OverlayPane(Vertical):
    @dataclass
    class Coloured(Message):
        """The runs drawn now and their colours (the runs table marks them so)."""
        colours: dict[str, tuple[int, int, int]]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._metrics_cache: dict[Path, tuple[tuple | None, list[EpochEnded]]] = {}

    def compose(self) -> ComposeResult:
        yield OverlayPlot(id="overlay")
        yield Static("", id="legend")

    @property
    def plot(self) -> OverlayPlot:
        return self.query_one(OverlayPlot)

    def show_runs(self, runs: list[tuple[str, list[Path]]]) -> None:
        """Overlay these curves (name, folders: one run, or a group's runs drawn as their mean and
        band), read in a worker."""
        self.read_curves(runs)

    @work(thread=True, group="curves", exclusive=True, exit_on_error=False)
    def read_curves(self, runs: list[tuple[str, list[Path]]]) -> None:
        curves = []
        for name, paths in runs:
            members = [self._metrics(path) for path in paths]
            curves.append(RunCurve(name, members[0], members if len(members) > 1 else []))
        if not get_current_worker().is_cancelled:
            self.post_message(CurvesLoaded(curves))

    def _metrics(self, path: Path) -> list[EpochEnded]:
        try:
            st = os.stat(path / folder.METRICS)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        cached = self._metrics_cache.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, folder.read_metrics(path))
            self._metrics_cache[path] = cached
        return cached[1]

    def on_curves_loaded(self, message: CurvesLoaded) -> None:
        message.stop()
        plot = self.plot
        plot.show(message.curves)
        colours = {c.name: plot.colour_of(c.name) for c in message.curves}
        legend = Text()
        for curve in message.curves:
            r, g, b = colours[curve.name]
            legend.append("━━\u00a0", style=f"rgb({r},{g},{b})")  # no-break: a key stays with its run
            legend.append(shown(curve.name).replace("-", "\u2011") + "  ")
        self.query_one("#legend", Static).update(legend)
        self.post_message(self.Coloured(colours))

    # --- what the keys change: each returns a word for the user, or None -------------------------

    def next_metric(self) -> str:
        plot, names = self.plot, list(METRICS)
        plot.show(plot.curves, metric=names[(names.index(plot.metric) + 1) % len(names)])
        return f"Plotting {METRICS[plot.metric][0]}"

    def toggle_time(self) -> None:
        self.plot.show(self.plot.curves, by_time=not self.plot.by_time)

    def toggle_log_y(self) -> str | None:
        plot = self.plot
        plot.show(plot.curves, log_y=not plot.log_y)
        return None if plot.metric in ("train_loss", "lr") else "Log y applies to train loss and LR (m switches the metric)"
