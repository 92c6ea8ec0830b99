"""Per-class precision, recall, F1 and support, the macro F1, and the most confused pairs.

All classes get a row (the evaluation pane scrolls); the whole report is at most 43 columns wide.
"""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...text import shown
from ...training.class_report import ClassScores, class_scores, macro_f1, most_confused

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


def scores_table(scores: list[ClassScores]) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, 1), show_edge=False, header_style="bold")
    table.add_column("class", no_wrap=True, min_width=NAME_WIDTH)
    for label in ("prec", "recall"):
        table.add_column(label, justify="right", no_wrap=True, min_width=6)
    table.add_column("F1", justify="right", no_wrap=True, min_width=6, style="bold")
    table.add_column("support", justify="right", no_wrap=True)
    for s in scores:
        table.add_row(Text(clip(shown(s.name))), percent(s.precision), percent(s.recall), percent(s.f1), str(s.support))
    return table


def pairs_table(classes: list[str], confusion: list[list[int]]) -> Table | Text:
    pairs = most_confused(confusion, classes, top=TOP_PAIRS)
    if not pairs:
        return Text("no mistakes", style="dim")
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, 2), show_edge=False, show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True, style="red")
    for pair in pairs:
        table.add_row(Text(f"{clip(shown(pair.true))} → {clip(shown(pair.predicted))}"), str(pair.count))
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


def class_report(classes: list[str], confusion: list[list[int]]) -> Group:
    scores = class_scores(confusion, classes)
    return Group(scores_table(scores), macro_line(scores), Text(),
                 Text("most confused (true → predicted)", style="bold"), pairs_table(classes, confusion))


class ClassReport(Static):
    DEFAULT_CSS = """
    ClassReport {
        width: auto;
        height: auto;
    }
    """

    def show(self, classes: list[str], confusion: list[list[int]]) -> None:
        self.update(class_report(classes, confusion))

    def clear(self, message: str = "") -> None:
        self.update(Text(message, style="dim"))
