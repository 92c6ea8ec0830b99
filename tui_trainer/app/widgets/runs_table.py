"""The runs table: a filter box over a table of runs that sorts, groups, selects and shows, beside
the summary columns, one column per setting that differs among the runs listed.

It owns no file work: the screen hands it rows from a worker (`show_rows`) and hears back
through its messages which run is highlighted and which are selected.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from ...training.listing import RunRow
from ...workspace.columns import COLUMNS, SUMMARY_COLUMNS, config_keys, diff_keys, format_value, sort_records
from ...workspace.filter import Filter, FilterError, parse

STATE_STYLES = {"live": "bold green", "finished": "green", "stopped": "yellow", "stopped early": "green",
                "pruned": "dim", "failed": "red", "unreadable": "red"}
SELECT_MARK = "●"


class RunsTable(Vertical):
    DEFAULT_CSS = """
    RunsTable { height: auto; }
    RunsTable #runs-filter { height: 1; border: none; padding: 0 1; background: $boost; }
    RunsTable #runs-filter:focus { background: $surface-lighten-1; }
    RunsTable #filter-error { height: auto; color: $error; padding: 0 1; display: none; }
    RunsTable #filter-error.-shown { display: block; }
    RunsTable #runs { height: 1fr; }
    """

    @dataclass
    class Highlighted(Message):
        row: RunRow | None

    @dataclass
    class SelectionChanged(Message):
        rows: list[RunRow]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.rows: list[RunRow] = []
        self.shown_rows: list[RunRow] = []  # after the filter, in table order
        self.filter: Filter = parse("")
        self.sort_key, self.descending = "name", True  # newest first: names start with the time
        self.grouped = False
        self.all_keys = False
        self.selected: list[Path] = []  # in the order they were selected
        self.colours: dict[str, tuple[int, int, int]] = {}
        self._columns: list[str] = []
        self._records: dict[Path, dict] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: words, tag:NAME, best_acc>0.85, optimizer.lr<0.5 ... (? for help)",
                    id="runs-filter")
        yield Static("", id="filter-error")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> DataTable:
        return self.query_one("#runs", DataTable)

    # --- what the screen calls ---------------------------------------------------------------

    def show_rows(self, rows: list[RunRow]) -> None:
        self.rows = rows
        self._records = {r.path: r.record() for r in rows}
        present = set(self._records)
        self.selected = [p for p in self.selected if p in present]
        self.redraw()

    def highlighted(self) -> RunRow | None:
        row = self.table.cursor_row
        return self.shown_rows[row] if self.shown_rows and 0 <= row < len(self.shown_rows) else None

    def selected_rows(self) -> list[RunRow]:
        by_path = {r.path: r for r in self.rows}
        return [by_path[p] for p in self.selected if p in by_path]

    def set_filter(self, text: str) -> str | None:
        """Apply a filter; on a syntax error keep the last good one and return the message."""
        known = {k for record in self._records.values() for k in record}
        try:
            self.filter = parse(text, known or None)
        except FilterError as e:
            return str(e)
        self.redraw()
        return None

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort by a column; the same column again flips the direction."""
        if descending is None:
            descending = not self.descending if key == self.sort_key else key not in ("name", "preset", "date")
        self.sort_key, self.descending = key, descending
        self.redraw()

    def toggle_selected(self) -> None:
        row = self.highlighted()
        if row is None:
            return
        if row.path in self.selected:
            self.selected.remove(row.path)
        else:
            self.selected.append(row.path)
        self._redraw_marks()
        self.post_message(self.SelectionChanged(self.selected_rows()))

    def set_colours(self, colours: dict[str, tuple[int, int, int]]) -> None:
        self.colours = colours
        self._redraw_marks()

    def column_keys(self) -> list[str]:
        """The columns shown now: the mark, the summary, then the settings (differing, or all)."""
        return list(self._columns)

    # --- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        table = self.table
        keep = self.highlighted()
        records = [self._records[r.path] for r in self.rows]
        shown = [rec for rec in records if self.filter.matches(rec)]
        shown = sort_records(shown, self.sort_key, self.descending)
        if self.grouped:
            order = {p: i for i, p in enumerate(dict.fromkeys(rec["preset"] or "" for rec in shown))}
            shown.sort(key=lambda rec: order[rec["preset"] or ""])  # stable: the sort holds inside a group
        by_path = {r.path: r for r in self.rows}
        self.shown_rows = [by_path[Path(rec["run_dir"])] for rec in shown]
        settings = config_keys(records) if self.all_keys else diff_keys(records)
        # What made the runs differ goes right after their results, where the eye already is.
        summary = [c.key for c in SUMMARY_COLUMNS]
        cut = summary.index("final_acc") + 1
        columns = ["mark"] + summary[:cut] + settings + summary[cut:]
        if columns != self._columns:
            table.clear(columns=True)
            for key in columns:
                table.add_column(self._header(key), key=key)
            self._columns = columns
        else:
            table.clear()
            for key in columns:  # the sort arrow moves between headers
                table.columns[key].label = Text(self._header(key))
        previous_preset = None
        for row, rec in zip(self.shown_rows, shown):
            cells = [self._mark(row)]
            for key in columns[1:]:
                c = COLUMNS.get(key)
                if c is None:
                    cells.append(_cell(format_value(rec.get(key), short=True)))
                    continue
                text = c.display(rec)
                if c.key == "state":
                    cells.append(Text(text, style=STATE_STYLES.get(text, "")))
                elif c.key == "note" and row.problem:
                    cells.append(Text(f"⚠ {row.problem}"[:60], style="red"))
                elif c.key == "preset" and self.grouped:
                    cells.append(Text(text, style="bold" if text != previous_preset else "dim"))
                    previous_preset = text
                else:
                    cells.append(_cell(text))
            table.add_row(*cells, key=str(row.path))
        title = f"{len(self.shown_rows)} of {len(self.rows)} runs" if len(self.shown_rows) != len(self.rows) else ""
        table.border_subtitle = title
        if self.shown_rows:
            paths = [r.path for r in self.shown_rows]
            table.move_cursor(row=paths.index(keep.path) if keep and keep.path in paths else 0, animate=False)
        self.post_message(self.Highlighted(self.highlighted()))

    def _header(self, key: str) -> str:
        if key == "mark":
            return " "
        label = COLUMNS[key].header if key in COLUMNS else key
        return label + (" ▼" if self.descending else " ▲") if key == self.sort_key else label

    def _mark(self, row: RunRow) -> Text:
        if row.path not in self.selected:
            return Text(" ")
        colour = self.colours.get(row.name)
        return Text(SELECT_MARK, style=f"rgb({colour[0]},{colour[1]},{colour[2]})" if colour else "bold")

    def _redraw_marks(self) -> None:
        table = self.table
        for row in self.shown_rows:
            table.update_cell(str(row.path), "mark", self._mark(row))

    # --- events --------------------------------------------------------------------------------

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        problem = self.set_filter(event.value)
        error = self.query_one("#filter-error", Static)
        error.update(f"{problem} (showing the last good filter)" if problem else "")
        error.set_class(problem is not None, "-shown")

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key and key != "mark":
            self.sort_by(key)

    @on(DataTable.RowHighlighted, "#runs")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.highlighted()))


def _cell(text: str) -> str | Text:
    # DataTable reads a str cell as markup, so a "[" in a note or name must come as Text; plain
    # strings stay str, which measures faster than a Text per cell.
    return Text(text) if "[" in text else text
