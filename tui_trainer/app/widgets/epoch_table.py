"""The finished epochs, one row each, newest at the bottom and kept in view."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...events import EpochEnded

COLUMNS = ("epoch", "train loss", "train acc", "test loss", "test acc", "val acc", "lr", "time", "img/s", "best")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def epoch_cells(e: EpochEnded) -> list:
    return [Text(str(e.epoch), justify="right"), Text(_num(e.train_loss, ".4f"), justify="right"),
            Text(_pct(e.train_acc), justify="right"), Text(_num(e.test_loss, ".4f"), justify="right"),
            Text(_pct(e.test_acc), justify="right"), Text(_pct(e.val_acc), justify="right"),
            Text(_num(e.lr, ".3g"), justify="right"),
            Text(f"{e.seconds:.1f}s", justify="right"), Text(f"{e.images_per_s:,.0f}", justify="right"),
            Text("★", style="bold yellow") if e.is_best else Text("")]


class EpochTable(DataTable):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.shown: list[EpochEnded] = []

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def set_epochs(self, epochs: list[EpochEnded]) -> None:
        """Add the new rows; rebuild only when the history is not an extension of what is shown."""
        n = len(self.shown)
        if epochs[:n] != self.shown:
            self.clear()
            self.shown = []
            n = 0
        if len(epochs) == n:
            return
        for e in epochs[n:]:
            self.add_row(*epoch_cells(e))
        self.shown = list(epochs)
        self.move_cursor(row=self.row_count - 1, animate=False)
