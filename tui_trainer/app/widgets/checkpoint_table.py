"""The checkpoints of one run: file, epoch, test accuracy, size, and whether it can be read."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable

from ...text import human_size, shown
from ...workspace.listing import CheckpointInfo


class CheckpointTable(DataTable):
    DEFAULT_CSS = """
    CheckpointTable { height: auto; max-height: 6; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row")
        self.rows_shown: list[CheckpointInfo] = []

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        if not self.columns:
            for label, width in (("file", 7), ("epoch", 6), ("test acc", 8), ("size", 7), ("status", 12)):
                self.add_column(label, width=width)

    def show(self, rows: list[CheckpointInfo] | None) -> None:
        """None: still reading; []: the run has none."""
        self._add_columns()  # the runs table can say "no run highlighted" before this table mounts
        keep = self.selected()
        self.clear()
        self.rows_shown = rows or []
        if rows is None:
            self.add_row("reading ...", "", "", "", "")
            return
        if not rows:
            self.add_row(Text("none yet", style="dim"), "", "", "", "")
            return
        for row in rows:
            status = Text(f"unreadable: {shown(row.error)}", style="red") if row.error else Text("ok", style="green")
            epoch = "-" if row.epoch is None else str(row.epoch) + (f"+{row.step}st" if row.step else "")
            self.add_row(Text(shown(row.path.name)), epoch, "-" if row.test_acc is None else f"{row.test_acc:.2%}",
                         human_size(row.size), status, key=str(row.path))
        names = [r.path for r in rows]
        best = [i for i, r in enumerate(rows) if r.path.name == "best.pt"]
        self.move_cursor(row=names.index(keep.path) if keep and keep.path in names else (best[0] if best else 0),
                         animate=False)

    def selected(self) -> CheckpointInfo | None:
        row = self.cursor_row
        return self.rows_shown[row] if self.rows_shown and 0 <= row < len(self.rows_shown) else None

    def mark_unreadable(self, path: Path, reason: str) -> None:
        for row in self.rows_shown:
            if row.path == path:
                row.error = reason
        self.show(list(self.rows_shown))

    def status(self, name: str) -> str:
        """The status cell of checkpoint `name` (tests read it)."""
        for i, row in enumerate(self.rows_shown):
            if row.path.name == name:
                return str(self.get_row_at(i)[4])
        return ""
