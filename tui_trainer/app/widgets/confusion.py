"""The confusion matrix with each class's accuracy as its last column. Focused, a cursor moves over
its cells (arrows) and enter asks for a cell's images (look.py's drill)."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from ...text import shown
from ...training.class_report import most_confused
from .look import DrillRequested, DrillView


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


def confusion_table(classes: list[str], confusion: list[list[int]], per_class: list[float],
                    cursor: tuple[int, int] | None = None) -> Table:
    """Rows: true class; columns: predicted. Correct counts in green, errors shaded by size; the
    cell at `cursor` (true, predicted) in reverse."""
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
            if cursor == (i, j):
                cells[-1].stylize("reverse")
        table.add_row(Text(name, style="reverse" if cursor and cursor[0] == i else ""), *cells, f"{per_class[i]:.1%}")
    return table


class ConfusionView(DrillView):
    BINDINGS = [Binding("up", "move(-1, 0)", show=False), Binding("down", "move(1, 0)", show=False),
                Binding("left", "move(0, -1)", show=False), Binding("right", "move(0, 1)", show=False),
                Binding("enter", "drill", "Images", show=False, tooltip="The images of this cell, most confident first")]

    cursor = (0, 0)  # (true, predicted)

    def show(self, classes: list[str], confusion: list[list[int]], per_class: list[float]) -> None:
        self.matrix = (classes, confusion, per_class)
        largest = most_confused(confusion, classes, top=1)
        self.cursor = largest[0].cell if largest else (0, 0)  # where a look starts
        self.draw()

    def draw(self) -> None:
        if self.matrix is not None:
            self.update(confusion_table(*self.matrix, cursor=self.cursor if self.has_focus else None))

    def action_move(self, rows: int, cols: int) -> None:
        if self.matrix is not None:
            k = len(self.matrix[0])
            self.cursor = (min(max(self.cursor[0] + rows, 0), k - 1), min(max(self.cursor[1] + cols, 0), k - 1))
            self.draw()

    def action_drill(self) -> None:
        if self.matrix is not None:
            self.post_message(DrillRequested(*self.cursor))
