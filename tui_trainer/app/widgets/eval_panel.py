"""An evaluation of one checkpoint: the headline, the confusion matrix and, under it (the pane is
narrower than both side by side), the per-class report with the most confused pairs, then its
calibration."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...text import shown
from .class_report import ClassReport
from .confusion import ConfusionView
from .reliability_view import ReliabilityView

PROMPT = "Select a checkpoint and press e (or enter) to evaluate it on the test split."


class EvalPanel(VerticalScroll):
    DEFAULT_CSS = """
    EvalPanel { padding: 0 0 0 1; overflow-x: auto; }
    EvalPanel #eval-headline { height: auto; margin-bottom: 1; }
    EvalPanel #confusion { height: auto; width: auto; margin-bottom: 1; }
    EvalPanel #class-report { height: auto; width: auto; }
    EvalPanel #reliability { height: auto; width: auto; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(PROMPT, id="eval-headline")
        yield ConfusionView("", id="confusion")
        yield ClassReport("", id="class-report")
        yield ReliabilityView("", id="reliability")

    def show_result(self, path: Path, result) -> None:  # noqa: ANN001 - an EvalResult
        run = path.parent.parent.name
        self.query_one("#eval-headline", Static).update(Text.assemble(
            (shown(f"{run}/{path.name}"), "bold"), "  accuracy ", (f"{result.accuracy:.2%}", "bold green"),
            f" on {result.n:,} test images  loss {result.loss:.4f}\n",
            ("tab to the matrix or the class table: arrows move, enter shows the images", "dim")))
        self.query_one(ConfusionView).show(result.classes, result.confusion, result.per_class)
        self.query_one(ClassReport).show(result.classes, result.confusion)
        self.query_one(ReliabilityView).show(result.calibration)

    def show_problem(self, name: str, reason: str) -> None:
        self.query_one("#eval-headline", Static).update(Text.assemble((shown(f"{name}: "), "bold"), (shown(reason), "red")))
        self.query_one(ConfusionView).clear()
        self.query_one(ClassReport).clear()
        self.query_one(ReliabilityView).show(None)

    def headline(self) -> str:
        return str(self.query_one("#eval-headline", Static).render())
