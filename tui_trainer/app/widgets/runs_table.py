"""The runs table: a filter box over a table of runs that sorts, groups, selects and shows, beside
the summary columns, one column per setting that differs among the runs listed. Grouped (by
settings but the seed, preset or study: workspace/groups.py), a group is one row that says n, the
mean final accuracy and its 95% interval, and opens to show its runs under it; with a baseline,
each group's row says how it compares (Welch's t-test, in words).

It owns the listing of its runs folder, read in a worker (`refresh_listing`), and says through
its messages what was listed, which run is highlighted and which are selected.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import Worker, get_current_worker

from ...text import clip, human_size
from ...text import shown as visible
from ...workspace import folder
from ...workspace.columns import COLUMNS, SUMMARY_COLUMNS, config_keys, diff_keys, format_value, sort_records
from ...workspace.filter import Filter, FilterError, parse
from ...workspace.groups import Group, group_runs, t_quantile, with_baseline
from ...workspace.listing import Listing, RunRow
from ...workspace.notes import Notes, write_notes
from ..dialogs import ConfirmModal
from .virtual_table import Cell, TableColumn, VirtualTable

STATE_STYLES = {"live": "bold green", "finished": "green", "stopped": "yellow", "stopped early": "green",
                "pruned": "dim", "failed": "red", "unreadable": "red"}
SELECT_MARK = "●"
FREEZE_ROWS = 500
VERDICT_STYLES = {1: "green", -1: "red", 0: "dim"}  # better, worse, can't tell


@dataclass
class RunsRead(Message):
    rows: list[RunRow]


@dataclass
class NotesSaved(Message):
    run_dir: Path
    error: str | None


@dataclass
class DeleteSized(Message):
    paths: list[Path]
    size: int


@dataclass
class RunsDeleted(Message):
    deleted: list[Path]
    failed: list[str]  # one line each: the folder and why


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
    class Listed(Message):
        """The runs folder was listed: `changed` when any row is new (the same objects otherwise)."""
        rows: list[RunRow]
        changed: bool

    @dataclass
    class Highlighted(Message):
        row: RunRow | None

    @dataclass
    class SelectionChanged(Message):
        rows: list[RunRow]

    def __init__(self, root: Path, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.listing = Listing(root)
        self._listing: Worker | None = None
        self._listed: tuple | None = None
        self.rows: list[RunRow] = []
        self.shown_rows: list[RunRow] = []  # after the filter, in table order
        self.filter: Filter = parse("")
        self.sort_key, self.descending = "name", True  # newest first: names start with the time
        self.group_by = "none"  # settings, preset, study or none (workspace.groups.GROUP_BY)
        self.baseline: Path | None = None  # a run of the baseline group
        self.opened: set[str] = set()  # the buckets of groups shown with their runs, not as one row
        self.group_of: dict[Path, Group] = {}  # each shown run's group, when grouped or compared
        self.all_keys = False
        self.selected: list[Path] = []  # in the order they were selected
        self.colours: dict[str, tuple[int, int, int]] = {}
        self._columns: list[str] = []
        self._records: dict[Path, dict] = {}
        self._row_of: dict[int, RunRow] = {}  # by id() of its record
        self._settings: dict[bool, list[str]] = {}  # the settings columns, all or differing, of these rows
        self._sorted: dict[tuple[str, bool], list[dict]] = {}  # every record, in a column's order
        # Each run's cells for the columns shown, kept while its row object (the listing hands back
        # the same one for a folder that did not change) and the columns stay: a sort or a filter
        # only reorders them.
        self._cells: dict[Path, tuple[RunRow, list[Cell]]] = {}
        self._widths: dict[str, int] = {}
        self._cells_fresh = False  # the cells are those of the rows listed now
        self._frozen = 0  # rows listed when the listing was last taken out of the cyclic GC

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: words, tag:NAME, best_acc>0.85, optimizer.lr<0.5 ... (? for help)",
                    id="runs-filter")
        yield Static("", id="filter-error")
        yield VirtualTable(id="runs")

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#runs", VirtualTable)

    # --- what the screen calls ---------------------------------------------------------------

    def refresh_listing(self) -> None:
        # One listing at a time: a new mode's screen hears of its mount and two resumes at once,
        # and two cold listings of a thousand folders would share the GIL with the first frame.
        if self._listing is None or self._listing.is_finished:
            self._listing = self.list_runs()

    @work(thread=True, group="runs-list", exclusive=True, exit_on_error=False)
    def list_runs(self) -> None:
        rows = self.listing.rows()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsRead(rows))
        t_quantile(4)  # scipy's import, here rather than on the UI thread at the first `g`

    def on_runs_read(self, message: RunsRead) -> None:
        message.stop()
        # The listing hands back the same row objects for folders that did not change.
        listed = tuple(id(r) for r in message.rows)
        changed = listed != self._listed
        if changed:
            self._listed = listed
            self.show_rows(message.rows)
            # A listing of thousands of runs is hundreds of thousands of objects that live until the
            # next one: out of the cyclic collector's full passes, which otherwise land in a sort
            # or a filter now and then and take 0.2 s there (refcounting still frees them). Once a
            # listing has grown by FREEZE_ROWS, after a collection: what is garbage now is not kept.
            if len(message.rows) >= self._frozen + FREEZE_ROWS:
                self._frozen = len(message.rows)
                gc.collect()
                gc.freeze()
        self.post_message(self.Listed(message.rows, changed))

    def show_rows(self, rows: list[RunRow]) -> None:
        self.rows = rows
        self._records = {r.path: r.record() for r in rows}
        self._row_of = {id(rec): r for r, rec in zip(rows, self._records.values())}
        self._settings, self._sorted, self._cells_fresh = {}, {}, False
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

    def cycle_grouping(self) -> str:
        """Group by the next of none, settings, preset and study; says how it is grouped now."""
        order = ("none", "settings", "preset", "study")
        self.group_by = order[(order.index(self.group_by) + 1) % len(order)]
        self.redraw()
        return f"grouped by {self.group_by}: o opens a group" if self.group_by != "none" else "not grouped"

    def toggle_baseline(self) -> None:
        """The highlighted run's group is the baseline; on the baseline's group again, none is."""
        row = self.highlighted()
        if row is not None:
            same = self.baseline is not None and self.group_of.get(self.baseline) is self.group_of.get(row.path)
            self.baseline = None if same else row.path
            self.redraw()

    def toggle_open(self) -> None:
        """Show the highlighted group's runs under its row, or fold them back into it."""
        row = self.highlighted()
        group = self.group_of.get(row.path) if row is not None and self.group_by != "none" else None
        if group is None or group.n < 2:
            return
        self.opened.symmetric_difference_update({group.bucket})
        self.redraw()
        self.table.move_cursor(self.shown_rows.index(group.runs[0]))

    def rows_at_cursor(self) -> list[RunRow]:
        """The highlighted run, or, on a folded group's row, the group's runs."""
        row = self.highlighted()
        if row is None:
            return []
        group = self.group_of.get(row.path) if self.group_by != "none" else None
        return list(group.runs) if group is not None and group.bucket not in self.opened else [row]

    def column_keys(self) -> list[str]:
        """The columns shown now: the mark, the summary, then the settings (differing, or all)."""
        return list(self._columns)

    # --- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        table = self.table
        keep = self.highlighted()
        records = list(self._records.values())
        order = (self.sort_key, self.descending)
        if order not in self._sorted:  # the rows are sorted once a column, then filtered in that order
            self._sorted[order] = sort_records(records, *order)
        shown = self._sorted[order]
        shown = [rec for rec in shown if self.filter.matches(rec)] if self.filter.terms else shown
        self.shown_rows = [self._row_of[id(rec)] for rec in shown]
        group_cells = self._group()
        if self.all_keys not in self._settings:  # they change with the rows only, not with a sort or filter
            self._settings[self.all_keys] = config_keys(records) if self.all_keys else diff_keys(records)
        settings = self._settings[self.all_keys]
        # What made the runs differ goes right after their results, where the eye already is.
        summary = [c.key for c in SUMMARY_COLUMNS]
        cut = summary.index("final_acc") + 1
        extra = [k for k in ("group", "verdict") if k in group_cells]
        columns = ["mark", *extra] + summary[:cut] + settings + summary[cut:]
        if columns != self._columns:
            self._columns, self._cells, self._widths = columns, {}, {}
        if not self._widths or not self._cells_fresh:
            self._cells = {r.path: cached if (cached := self._cells.get(r.path)) and cached[0] is r
                           else (r, self._row_cells(r, self._records[r.path])) for r in self.rows}
            self._widths = {key: max([cell_len(self._header(key, arrow=True)),
                                      *(_width(cells[i]) for _, cells in self._cells.values())])
                            for i, key in enumerate(columns)}
            self._cells_fresh = True
        for key in extra:  # these change with the grouping and the baseline, not with the rows
            self._widths[key] = max([cell_len(self._header(key)), *(_width(c) for c in group_cells[key].values())])
        lines = []
        for row in self.shown_rows:
            cells = list(self._cells[row.path][1])
            cells[0] = self._mark(row)
            for i, key in enumerate(extra, 1):
                cells[i] = group_cells[key].get(row.path, Text(""))
            lines.append(cells)
        paths = [r.path for r in self.shown_rows]
        table.set_data([TableColumn(key, self._header(key), self._widths[key]) for key in columns], lines,
                       cursor=paths.index(keep.path) if keep and keep.path in paths else 0)
        title = f"{len(self.shown_rows)} of {len(self.rows)} runs" if len(self.shown_rows) != len(self.rows) else ""
        table.border_subtitle = title
        self.post_message(self.Highlighted(self.highlighted()))

    def curves_for(self, rows: list[RunRow]) -> list[tuple[str, list[Path], list[str]]]:
        """What the overlay draws for these runs: (label, folders, run names) each; grouped, a run
        of a group stands for its whole group, drawn as the group's mean and band."""
        out, seen = [], set()
        for r in rows:
            g = self.group_of.get(r.path) if self.group_by != "none" else None
            if g is None or g.n == 1:
                out.append((r.name, [r.path], [r.name]))
            elif id(g) not in seen:
                seen.add(id(g))
                out.append((g.key, [m.path for m in g.runs], [m.name for m in g.runs]))
        return out

    def _group(self) -> dict[str, dict[Path, Text]]:
        """Grouped, each group is its first run's row, which says what the group is and, with a
        baseline, how it compares; an opened group has its runs under that row (the sort holds
        inside a group). Compared but not grouped, every run keeps its row. {} when neither."""
        self.group_of = {}
        if self.group_by == "none" and self.baseline is None:
            return {}
        groups = group_runs(self.shown_rows, "settings" if self.group_by == "none" else self.group_by)
        folded = self.group_by != "none"
        self.shown_rows = [r for g in groups for r in (g.runs if not folded or g.bucket in self.opened else g.runs[:1])]
        self.group_of = {r.path: g for g in groups for r in g.runs}
        cells: dict[str, dict[Path, Text]] = {"group": {}}
        member = Text("│", style="dim")
        for g in groups:
            fold = ("▾ " if g.bucket in self.opened else "▸ ") if folded and g.n > 1 else ""
            cells["group"][g.runs[0].path] = Text(fold + g.summary(), style="bold")
            if not folded or g.bucket in self.opened:
                cells["group"].update((r.path, member) for r in g.runs[1:])
        baseline = self.group_of.get(self.baseline) if self.baseline is not None else None
        if baseline is not None:
            with_baseline(groups, baseline)
            cells["verdict"] = {g.runs[0].path: Text("baseline", style="bold cyan") if g is baseline else
                                Text(g.comparison.verdict, style=VERDICT_STYLES[g.comparison.direction])
                                for g in groups}
        return cells

    def _row_cells(self, row: RunRow, rec: dict) -> list[Cell]:
        cells: list[Cell] = [" "]  # the mark, drawn at each redraw
        for key in self._columns[1:]:
            c = COLUMNS.get(key)
            if c is None:
                cells.append(format_value(rec.get(key), short=True))
                continue
            text = c.display(rec)
            if c.key == "state":
                cells.append(Text(text, style=STATE_STYLES.get(text, "")))
            elif c.key == "note" and row.problem:
                cells.append(Text(clip(f"⚠ {visible(row.problem)}", 60), style="red"))
            else:
                cells.append(text)
        return cells

    def _header(self, key: str, arrow: bool | None = None) -> str:
        """The column's header, with the sort arrow on the sorted one (`arrow`: as if sorted)."""
        if key == "mark":
            return " "
        if key in ("group", "verdict"):
            return "vs baseline" if key == "verdict" else f"{self.group_by}: n, final % ±CI, sd · best · time"
        label = COLUMNS[key].header if key in COLUMNS else key
        return label + (" ▼" if self.descending else " ▲") if (arrow or key == self.sort_key) else label

    def _mark(self, row: RunRow) -> Text:
        if row.path not in self.selected:
            return Text(" ")
        colour = self.colours.get(row.name)
        return Text(SELECT_MARK, style=f"rgb({colour[0]},{colour[1]},{colour[2]})" if colour else "bold")

    def _redraw_marks(self) -> None:
        table = self.table
        table.update_rows({i: [self._mark(row), *table.rows[i][1:]] for i, row in enumerate(self.shown_rows)})

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

    def on_virtual_table_header_selected(self, event: VirtualTable.HeaderSelected) -> None:
        event.stop()
        if event.key != "mark":
            self.sort_by(event.key)

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.highlighted()))


    # --- deleting runs ----------------------------------------------------------------------

    def delete(self, chosen: list[RunRow]) -> None:
        """Delete these runs' folders after a confirmation that says what it frees; refused while
        one trains."""
        if not chosen:
            return
        live = [r.name for r in chosen if folder.live_pid(r.path) is not None]
        if live:
            self.notify(f"{', '.join(live)} {'is' if len(live) == 1 else 'are'} training now; stop "
                        f"{'it' if len(live) == 1 else 'them'} before deleting", title="Not deleted",
                        severity="warning")
            return
        self.size_for_delete([r.path for r in chosen])

    @work(thread=True, group="delete", exit_on_error=False)
    def size_for_delete(self, paths: list[Path]) -> None:
        self.post_message(DeleteSized(paths, sum(folder.folder_size(p) for p in paths)))

    def on_delete_sized(self, message: DeleteSized) -> None:
        paths = message.paths
        what = f"run {paths[0].name}" if len(paths) == 1 else f"{len(paths)} runs:\n" + "\n".join(
            f"  {p.name}" for p in paths[:8]) + ("\n  ..." if len(paths) > 8 else "")

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_runs(paths)

        self.app.push_screen(ConfirmModal(f"Delete {what}?\n\nThis removes {'it' if len(paths) == 1 else 'them'} "
                                          f"with {'its' if len(paths) == 1 else 'their'} checkpoints "
                                          f"({human_size(message.size)}). It cannot be undone.", yes="Delete"),
                             answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def delete_runs(self, paths: list[Path]) -> None:
        deleted, failed = [], []
        for path in paths:
            try:
                folder.delete_run(path)
                deleted.append(path)
            except OSError as e:
                failed.append(f"{path.name}: {e.strerror or e}")
        self.post_message(RunsDeleted(deleted, failed))

    def on_runs_deleted(self, message: RunsDeleted) -> None:
        if message.failed:
            done = f" ({len(message.deleted)} deleted)" if message.deleted else ""
            self.notify("; ".join(message.failed) + done, title="Not deleted", severity="error")
        elif message.deleted:
            names = message.deleted[0].name if len(message.deleted) == 1 else f"{len(message.deleted)} runs"
            self.notify(f"Deleted {names}")
        self.refresh_listing()

    # --- a run's note and tags -----------------------------------------------------------------

    @work(thread=True, group="notes", exit_on_error=False)
    def save_notes(self, run_dir: Path, notes: Notes) -> None:
        try:
            write_notes(run_dir, notes)
            error = None
        except OSError as e:
            error = f"{run_dir.name}: {e.strerror or e}"
        self.post_message(NotesSaved(run_dir, error))

    def on_notes_saved(self, message: NotesSaved) -> None:
        if message.error:
            self.notify(message.error, title="Note not saved", severity="error")
        self.refresh_listing()


def _width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)

