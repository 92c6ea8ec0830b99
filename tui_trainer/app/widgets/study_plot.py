"""The objective of each finished trial against trial number, or against one searched parameter."""
from __future__ import annotations

import math

from ...log_axis import log_ticks
from ...search.study_file import Param, StudySpec
from ...search.trials import StudyReport
from ...workspace.columns import format_value
from .plots import CachedPlot


class StudyPlot(CachedPlot):
    """`by` None: against trial number, with the best so far as a line; else against that parameter."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.spec: StudySpec | None = None
        self.report: StudyReport | None = None
        self.by: Param | None = None

    def show(self, spec: StudySpec, rep: StudyReport | None, by: Param | None) -> None:
        self.spec, self.report, self.by = spec, rep, by
        self.changed()

    def draw(self, plt) -> None:  # noqa: ANN001 - plotext's figure
        spec, rep = self.spec, self.report
        if spec is None:
            plt.title("no study open: o opens one")
            return
        done = [r for r in (rep.rows if rep else []) if r.value is not None]
        objective = f"{spec.objective} %"
        if not done:
            plt.title(f"{objective}: no trial has finished yet")
            return
        ys = [r.value * 100 for r in done]
        if self.by is None:
            xs = [float(r.number) for r in done]
            plt.title(f"{objective} by trial (line: best so far)")
            plt.scatter(xs, ys, color="cyan", marker="dot")
            steps_x, steps_y, best = [], [], None
            for x, y in zip(xs, ys):  # a staircase: the best so far only rises at a new best
                if best is not None:
                    steps_x.append(x)
                    steps_y.append(best)
                best = y if best is None else max(best, y)
                steps_x.append(x)
                steps_y.append(best)
            plt.plot(steps_x, steps_y, color="green", marker="braille")
            whole = sorted({int(x) for x in xs})
            stride = max(1, len(whole) // 10)
            plt.xticks(whole[::stride], [str(n) for n in whole[::stride]])
            plt.xlabel("trial")
            return
        p = self.by
        plt.title(f"{objective} by {p.key}")
        done = [r for r in done if r.params.get(p.key) is not None]  # trials from before the key was searched
        ys = [r.value * 100 for r in done]
        values = [r.params[p.key] for r in done]
        if p.choices:
            labels = [format_value(c) for c in p.choices]
            xs = [float(labels.index(format_value(v))) if format_value(v) in labels else -1.0 for v in values]
            plt.xticks(list(range(len(labels))), labels)
        elif p.log:
            xs = [math.log10(v) for v in values]
            ticks, names = log_ticks(math.log10(p.low), math.log10(p.high))
            if ticks:
                plt.xticks(ticks, names)
        else:
            xs = [float(v) for v in values]
        plt.scatter(xs, ys, color="cyan", marker="dot")
        plt.xlabel(p.key)
