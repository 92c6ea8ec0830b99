"""A study's trials: number, state, objective (on validation unless the study holds nothing out), test
accuracy beside it, duration and each searched parameter; the best marked."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...search.study_file import StudySpec
from ...search.trials import StudyReport, TrialRow
from ...text import shown
from ...workspace.columns import format_value

STATE_STYLES = {"complete": "", "running": "bold cyan", "pruned": "yellow", "failed": "red", "waiting": "dim"}


class TrialsTable(DataTable):
    """Rows keyed by trial number; the cursor stays on its trial across refreshes."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns_for: tuple | None = None
        self.rows_by_key: dict[str, TrialRow] = {}

    def show(self, spec: StudySpec, rep: StudyReport | None) -> None:
        objective = f"{spec.objective} ({'val' if spec.validation else 'test'})"
        columns = ("#", "state", objective, "test", "min", *(p.key for p in spec.space))
        if columns != self._columns_for:
            self.clear(columns=True)
            for name in columns:
                self.add_column(name, key=name)
            self._columns_for = columns
        keep = self.cursor_row
        self.clear()
        self.rows_by_key = {}
        for row in (rep.rows if rep else []):
            best = rep.best is not None and rep.best.number == row.number
            style = "bold green" if best else STATE_STYLES.get(row.state, "")
            value = f"{row.value:.2%}" if row.value is not None else "-"
            if row.spread is not None:  # a trial of several seeds: their spread
                value += f" ±{row.spread:.2%}"
            took = f"{row.seconds / 60:.1f}" if row.seconds is not None else ""
            test = f"{row.test_acc:.2%}" if row.test_acc is not None else "-"
            cells = [f"{'★' if best else ' '}{row.number}", row.state, value, test, took,
                     *(format_value(row.params.get(p.key, ""), short=True) if p.key in row.params else "-" for p in spec.space)]
            self.add_row(*(Text(shown(c), style=style) for c in cells), key=str(row.number))
            self.rows_by_key[str(row.number)] = row
        if self.row_count:
            self.move_cursor(row=min(keep, self.row_count - 1))

    @property
    def current(self) -> TrialRow | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.rows_by_key.get(key)
