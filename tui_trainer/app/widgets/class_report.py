"""Per-class precision, recall, F1 and support, the macro F1, and the most confused pairs.

All classes get a row (the evaluation pane scrolls); the whole report is at most 43 columns wide.
Focused, a cursor moves over the classes and then the pairs: enter on a class asks for its misses
(and, a key away, its false alarms), on a pair for its images (look.py's drill).
"""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from ...text import shown
from ...training.class_report import ClassScores, class_scores, macro_f1, most_confused
from .look import DrillRequested, DrillView

NAME_WIDTH = 14  # class names longer than this lose their middle to an ellipsis
TOP_PAIRS = 8


def clip(name: str, width: int = NAME_WIDTH) -> str:
    """Keep both ends, as names that share a start often differ at the end (stripes-h, stripes-v)."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[head + 1 - width:]


def percent(value: float | None) -> Text:
    return Text("-", style="dim") if value is None else Text(f"{value:.1%}")


def scores_table(scores: list[ClassScores], cursor: int | None = None) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, 1), show_edge=False, header_style="bold")
    table.add_column("class", no_wrap=True, min_width=NAME_WIDTH)
    for label in ("prec", "recall"):
        table.add_column(label, justify="right", no_wrap=True, min_width=6)
    table.add_column("F1", justify="right", no_wrap=True, min_width=6, style="bold")
    table.add_column("support", justify="right", no_wrap=True)
    for i, s in enumerate(scores):
        table.add_row(Text(clip(shown(s.name))), percent(s.precision), percent(s.recall), percent(s.f1), str(s.support),
                      style="reverse" if i == cursor else None)
    return table


def pairs_table(classes: list[str], confusion: list[list[int]], cursor: int | None = None) -> Table | Text:
    pairs = most_confused(confusion, classes, top=TOP_PAIRS)
    if not pairs:
        return Text("no mistakes", style="dim")
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, 2), show_edge=False, show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True, style="red")
    for i, pair in enumerate(pairs):
        table.add_row(Text(f"{clip(shown(pair.true))} → {clip(shown(pair.predicted))}"), str(pair.count),
                      style="reverse" if i == cursor else None)
    return table


def macro_line(scores: list[ClassScores]) -> Text:
    value = macro_f1(scores)
    defined = sum(s.f1 is not None for s in scores)
    text = Text("macro F1 ")
    text.append("-" if value is None else f"{value:.1%}", style="bold")
    # Say when classes without an F1 (neither in the test split nor predicted) were left out.
    over = f"{len(scores)} classes" if defined == len(scores) else f"{defined} of {len(scores)} classes"
    text.append(f"  over {over}", style="dim")
    return text


def class_report(classes: list[str], confusion: list[list[int]], cursor: int | None = None) -> Group:
    """`cursor`: a row in reverse, counting the classes' rows and then the pairs'."""
    scores = class_scores(confusion, classes)
    k = len(classes)
    return Group(scores_table(scores, cursor if cursor is not None and cursor < k else None), macro_line(scores),
                 Text(), Text("most confused (true → predicted)", style="bold"),
                 pairs_table(classes, confusion, cursor - k if cursor is not None and cursor >= k else None))


class ClassReport(DrillView):
    DEFAULT_CSS = """
    ClassReport {
        width: auto;
        height: auto;
    }
    """
    BINDINGS = [Binding("up", "move(-1)", show=False), Binding("down", "move(1)", show=False),
                Binding("enter", "drill", "Images", show=False, tooltip="A class's misses (v: its false alarms), or a pair's images")]

    cursor = 0  # a row: the classes' first, then the pairs'

    def rows(self) -> list[tuple[int | None, int | None]]:
        """(true, predicted) of each row: a class's rows (None: any prediction), then the pairs'."""
        classes, confusion = self.matrix
        return [(i, None) for i in range(len(classes))] + [p.cell for p in most_confused(confusion, classes, TOP_PAIRS)]

    def show(self, classes: list[str], confusion: list[list[int]]) -> None:
        self.matrix = (list(classes), confusion)
        self.cursor = 0
        self.draw()

    def draw(self) -> None:
        if self.matrix is not None:
            self.update(class_report(*self.matrix, cursor=self.cursor if self.has_focus else None))

    def action_move(self, step: int) -> None:
        if self.matrix is not None:
            self.cursor = min(max(self.cursor + step, 0), len(self.rows()) - 1)
            self.draw()

    def action_drill(self) -> None:
        if self.matrix is not None:
            true, pred = self.rows()[self.cursor]
            self.post_message(DrillRequested(true, pred, wrong=pred is None))
