"""A table that draws only the rows on screen, for the runs table's thousand runs.

Textual's DataTable measures and converts every cell when rows are added (1.5 s for 1,000 runs of
25 columns on a 2-core CPU, and again on every sort). Here the caller hands whole rows of ready
text with the column widths, and a frame renders the 30-odd visible lines through the Line API;
sorting or filtering is a new list of the same row objects. It keeps DataTable's look and the
parts of its interface the runs table uses: a row cursor, header clicks, zebra stripes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
GAP = 2  # blank cells between columns, as DataTable's padding of 1 each side


@dataclass
class TableColumn:
    key: str
    label: str
    width: int


class VirtualTable(ScrollView, can_focus=True):
    # DataTable's look (its default CSS), so the runs table reads like every other table.
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        &:dark > .virtual-table--even { background: $surface-darken-1 40%; }
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .virtual-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .virtual-table--even { background: $surface-lighten-1 50%; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--even", "virtual-table--cursor"}
    BINDINGS = [
        Binding("up", "move(-1)", show=False), Binding("down", "move(1)", show=False),
        Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
        Binding("home", "move(-1000000000)", show=False), Binding("end", "move(1000000000)", show=False),
        Binding("left", "scroll_left", show=False), Binding("right", "scroll_right", show=False),
    ]
    cursor_row: reactive[int] = reactive(0, repaint=False)

    @dataclass
    class RowHighlighted(Message):
        table: VirtualTable
        row: int

    @dataclass
    class HeaderSelected(Message):
        table: VirtualTable
        key: str

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.columns: list[TableColumn] = []
        self.rows: list[Sequence[Cell]] = []

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def set_data(self, columns: list[TableColumn], rows: list[Sequence[Cell]], cursor: int = 0) -> None:
        """Show `rows` (one cell per column, drawn as given) and put the cursor on row `cursor`."""
        self.columns, self.rows = columns, rows
        width = sum(c.width for c in columns) + GAP * len(columns)
        self.virtual_size = Size(width, len(rows) + 1)  # + the header line
        self.move_cursor(cursor)
        self._scroll_to_cursor()
        self.refresh()

    def update_rows(self, changed: dict[int, Sequence[Cell]]) -> None:
        for index, cells in changed.items():
            self.rows[index] = cells
        self.refresh()

    def move_cursor(self, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self.rows) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.RowHighlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        visible = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def action_move(self, by: int) -> None:
        self.move_cursor(self.cursor_row + by)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(self.size.height - 2, 1))

    # --- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        x0, top = self.scroll_offset
        width = self.size.width
        if y == 0:
            style = self.get_component_rich_style("virtual-table--header")
            cells: Sequence[Cell] = [c.label for c in self.columns]
        else:
            index = int(top) + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, self.rich_style)
            cells = self.rows[index]
            style = self.rich_style
            if index % 2:
                style += self.get_component_rich_style("virtual-table--even")
            if index == self.cursor_row:
                style += self.get_component_rich_style("virtual-table--cursor")
        return self._strip(cells, style).crop_extend(int(x0), int(x0) + width, style)

    def _strip(self, cells: Sequence[Cell], style: Style) -> Strip:
        segments = []
        pad = " " * (GAP // 2)
        for column, cell in zip(self.columns, cells):
            if isinstance(cell, Text):
                text = cell.copy()
                text.truncate(column.width, overflow="ellipsis", pad=True)
                segments.append(Segment(pad, style))
                segments.extend(Segment(s.text, style + s.style if s.style else style)
                                for s in text.render(self.app.console, end=""))
                segments.append(Segment(pad, style))
            else:
                segments.append(Segment(pad + set_cell_size(cell, column.width) + pad, style))
        return Strip(segments)

    # --- mouse ---------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + int(self.scroll_offset.x)
            for column in self.columns:
                x -= column.width + GAP
                if x < 0:
                    self.post_message(self.HeaderSelected(self, column.key))
                    return
            return
        self.move_cursor(int(self.scroll_offset.y) + event.y - 1)
