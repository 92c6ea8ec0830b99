"""The run queue as a dialog: the runner, the queued runs in order, the last few done.

The queue lives in files (workspace/queue.py) that the app, the CLI and the runner all edit, and
the runner is a detached process: this dialog only reads the queue every REFRESH_S seconds and
edits it, both in thread workers (a read takes a file lock, which another process may hold for a
moment). Closing the dialog or the app never touches the runner.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from ...text import shown
from ...workspace.queue import LOG_FILE, QUEUE_DIR, Queue, QueueBusy, QueueError, QueueItem, request_stop, start_runner
from ..dialogs import ConfirmModal
from ..messages import AttachRequested
from ..widgets.queue_view import QueueView, done_lines, read_view, runner_line, table_rows

REFRESH_S = 1.5
HINT = "u/d move  del remove  enter follow the running run"  # r, x and esc are on the buttons


@dataclass
class QueueRead(Message):
    view: QueueView
    seq: int  # reads can finish out of order: a later one is never replaced by an earlier one


@dataclass
class QueueActed(Message):
    """An edit, a start or a stop done off the UI thread: what to tell the user (None: nothing)."""
    text: str | None = None
    severity: str = "information"


# --- file work: run in thread workers --------------------------------------------------------------

def start(runs: Path, data: str | None, device: str) -> QueueActed:
    if not Queue(runs).items():
        return QueueActed("The queue is empty: add runs from Setup first", "warning")
    try:
        pid = start_runner(runs, data=data, device=device)
    except QueueBusy as e:
        return QueueActed(f"The queue is already running (pid {e.pid})", "warning")
    return QueueActed(f"Queue runner started (pid {pid}); it goes on when the app closes. "
                      f"Log: {runs / QUEUE_DIR / LOG_FILE}")


def move(runs: Path, item_id: int, delta: int) -> QueueActed:
    Queue(runs).move(item_id, delta)
    return QueueActed()  # the table shows it, the cursor on the moved item


def remove(runs: Path, item_id: int) -> QueueActed:
    item = Queue(runs).remove(item_id)
    return QueueActed(f"Removed #{item.id} {item.describe()} from the queue")


def stop(runs: Path) -> QueueActed:
    pid = request_stop(runs)
    if pid is None:
        return QueueActed("The queue runner is not running", "warning")
    return QueueActed(f"Stopping the queue runner (pid {pid}): its current run saves last.pt, the rest stays queued")


class QueueModal(ModalScreen[None]):
    """The run queue of the app's runs folder: watch it, reorder it, start and stop its runner."""

    BINDINGS = [
        Binding("u,shift+up", "move(-1)", "Up"),
        Binding("d,shift+down", "move(1)", "Down"),
        Binding("delete", "remove", "Remove"),
        Binding("r", "run", "Run"),
        Binding("x", "stop", "Stop"),
        Binding("escape", "close", "Close"),
    ]

    DEFAULT_CSS = """
    QueueModal #queue-table {
        height: auto;
        max-height: 14;
    }
    QueueModal #queue-done {
        margin-top: 1;
    }
    QueueModal #queue-hint {
        color: $text-muted;
    }
    /* 24 rows: the table and the done list give way, so that the keys and buttons still show */
    QueueModal.-short #queue-table {
        max-height: 5;
    }
    QueueModal.-short #queue-done {
        max-height: 3;
        margin-top: 0;
    }
    """

    def __init__(self) -> None:
        super().__init__(classes="modal")
        self.view: QueueView | None = None
        self.row_ids: list[int] = []  # the table's rows, top to bottom
        self._shown_rows: list[tuple[str, tuple]] | None = None
        self._epochs_cache: dict[tuple, int | None] = {}  # touched by the reading thread only
        self._reads = self._shown_read = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(f"Run queue of {self.app.runs}", classes="dialog-text", markup=False)
            yield Static("runner: …", id="queue-runner")
            yield Static("", id="queue-problem", classes="field-error", markup=False)
            yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="queue-done")
            yield Static(HINT, id="queue-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run (r)", id="run", variant="primary", compact=True)
                yield Button("Stop (x)", id="stop", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "#", "run", "epochs", "best")
        table.focus()
        self.refresh_queue()
        self.set_interval(REFRESH_S, self.refresh_queue)

    # --- reading ---------------------------------------------------------------------------------

    def refresh_queue(self) -> None:
        self._reads += 1
        self.read_queue(self.app.runs, self._reads)

    @work(thread=True, group="queue-read", exclusive=True, exit_on_error=False)
    def read_queue(self, runs: Path, seq: int) -> None:
        self.post_message(QueueRead(read_view(runs, self._epochs_cache), seq))

    def on_queue_read(self, message: QueueRead) -> None:
        if message.seq < self._shown_read:
            return
        self._shown_read = message.seq
        self.view = message.view
        self.draw(message.view)

    def draw(self, view: QueueView) -> None:
        self.query_one("#queue-runner", Static).update(runner_line(view))
        problem = self.query_one("#queue-problem", Static)
        problem.update(shown(view.problem or ""))
        problem.set_class(view.problem is not None, "-shown")
        self.draw_table(table_rows(view))
        self.query_one("#queue-done", Static).update(done_lines(view))

    def draw_table(self, rows: list[tuple[str, tuple]]) -> None:
        """Redraw only on a change, keeping the cursor on the item it was on (or, that item gone,
        at the same place)."""
        if rows == self._shown_rows:
            return
        table = self.query_one(DataTable)
        current, old_row = self.highlighted_id, table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        self._shown_rows, self.row_ids = rows, [int(key) for key, _ in rows]
        if rows:
            row = self.row_ids.index(current) if current in self.row_ids else min(old_row, len(rows) - 1)
            table.move_cursor(row=row, animate=False)

    # --- the highlighted item ----------------------------------------------------------------------

    @property
    def highlighted_id(self) -> int | None:
        row = self.query_one(DataTable).cursor_row
        return self.row_ids[row] if 0 <= row < len(self.row_ids) else None

    def running_id(self) -> int | None:
        running = self.view.state.running if self.view is not None and self.view.state is not None else None
        return running.item.id if running is not None else None

    def highlighted_queued(self) -> QueueItem | None:
        """The highlighted queued item; None (having said why) for none or the running one."""
        item_id = self.highlighted_id
        if item_id is None:
            return None
        if item_id == self.running_id():
            self.notify(f"#{item_id} is training now: x stops it (it saves last.pt)", severity="warning")
            return None
        items = self.view.state.items if self.view is not None and self.view.state is not None else []
        return next((item for item in items if item.id == item_id), None)

    # --- actions ---------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if (item := self.highlighted_queued()) is not None:
            self.act(move, self.app.runs, item.id, delta)

    def action_remove(self) -> None:
        item = self.highlighted_queued()
        if item is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(remove, self.app.runs, item.id)

        self.app.push_screen(ConfirmModal(f"Remove #{item.id} {item.describe()} from the queue?",
                                          yes="Remove", no="Keep"), answered)

    def action_run(self) -> None:
        if self.app.training_here():
            self.notify("A run trains in this app: the queue's runs will share the CPU with it", severity="warning")
        self.act(start, self.app.runs, self.app.data, self.app.device)

    def action_stop(self) -> None:
        self.act(stop, self.app.runs)

    def action_open(self) -> None:
        """Follow the running item's run in the Training view; the dialog closes first, so that the
        mode switch leaves no dialog behind on the Setup screen's stack."""
        item_id = self.highlighted_id
        if item_id is None:
            return
        running = self.view.state.running if self.view is not None and self.view.state is not None else None
        if running is None or running.item.id != item_id:
            self.notify(f"#{item_id} is queued: it has no run yet", severity="warning")
            return
        if not running.run_dir:
            self.notify(f"#{item_id} is starting: its run folder comes in a moment", severity="warning")
            return
        app = self.app  # the dialog is gone after dismiss: the intent goes to the app itself
        self.dismiss(None)
        app.post_message(AttachRequested(Path(running.run_dir)))

    def action_close(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"run": self.action_run, "stop": self.action_stop, "close": self.action_close}[event.button.id]()

    # --- file work off the UI thread ---------------------------------------------------------------

    @work(thread=True, group="queue-act", exit_on_error=False)
    def act(self, do, *args) -> None:  # noqa: ANN001 - one of move, remove, start, stop above
        """Run `do(*args)` (it returns what to tell the user) and say how it went."""
        try:
            message = do(*args)
        except (QueueError, OSError) as e:  # an id gone meanwhile, a broken queue file, a full disk
            message = QueueActed(str(e), "error")
        self.post_message(message)

    def on_queue_acted(self, message: QueueActed) -> None:
        if message.text:
            self.notify(message.text, severity=message.severity, timeout=10)
        self.refresh_queue()
