"""The confusion matrix with each class's accuracy as its last column."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...text import shown


def short(name: str, width: int = 4) -> str:
    return name if len(name) <= width else name[:width]


def abbreviations(classes: list[str], width: int = 4) -> list[str]:
    """Column labels of `width` characters: the start of each name, or its first and last
    characters where starts collide (stripes-h, stripes-v -> st-h, st-v)."""
    first = [short(c, width) for c in classes]
    out = []
    for name, label in zip(classes, first):
        if first.count(label) > 1 and len(name) > width:
            half = width // 2
            label = name[:half] + name[-(width - half):]
        out.append(label)
    if len(set(out)) < len(out):
        out = [str(i) for i in range(len(classes))]
    return out


def confusion_table(classes: list[str], confusion: list[list[int]], per_class: list[float]) -> Table:
    """Rows: true class; columns: predicted. Correct counts in green, errors shaded by size."""
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, 1), show_edge=False, header_style="bold")
    table.add_column("true\\pred", justify="left", no_wrap=True, max_width=10, overflow="crop")
    classes = [shown(c) for c in classes]
    for label in abbreviations(classes):
        table.add_column(Text(label), justify="right", no_wrap=True, min_width=4)
    table.add_column("acc", justify="right", no_wrap=True, style="bold", min_width=6)
    for i, (name, row) in enumerate(zip(classes, confusion)):
        total = max(sum(row), 1)
        cells = []
        for j, count in enumerate(row):
            if i == j:
                cells.append(Text(str(count), style="bold green"))
            elif count == 0:
                cells.append(Text("·", style="dim"))
            else:
                share = count / total
                style = "bold red" if share >= 0.1 else "red" if share >= 0.03 else ""
                cells.append(Text(str(count), style=style))
        table.add_row(Text(name), *cells, f"{per_class[i]:.1%}")
    return table


class ConfusionView(Static):
    def show(self, classes: list[str], confusion: list[list[int]], per_class: list[float]) -> None:
        self.update(confusion_table(classes, confusion, per_class))

    def clear(self, message: str = "") -> None:
        self.update(Text(message, style="dim"))
