"""Training: the live view of the app's run session, whatever feeds it.

The screen draws only from `app.session` (see session.py). It catches up on the session's
history when it mounts, when it comes back into view and on every event the app publishes, so
leaving it and coming back loses nothing, and a run followed from another process looks the same.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from ...config import Config, ConfigError
from ...events import BatchProgress, DataProgress, Event, SystemSample
from ...text import shown
from ..session import RunSession
from ..widgets.epoch_table import EpochTable
from ..widgets.lr_plot import schedule_points
from ..widgets.metric_plots import AccuracyPlot, LossPlot, TrainingLRPlot
from ..widgets.status_line import StatusLine
from ..widgets.system_pane import HISTORY, SystemPane


@dataclass
class SystemSampled(Message):
    sample: SystemSample

# The trainer sends progress 4 times a second; the screen draws it at most twice. Each drawing is a
# compositor pass of the UI thread, on a CPU the run trains on (benchmarks/app_overhead.py prints
# the UI thread's share of a core).
PROGRESS_DRAW_S = 0.5
PLOT_DRAW_S = 3.0

EMPTY = "No run yet — press F1 to set one up (or F3 to resume or attach to a run)"


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "Pause", tooltip="Pause the run at the next step"),
        Binding("p", "resume_run", "Resume", tooltip="Resume the paused run"),
        Binding("x", "stop", "Stop", tooltip="Stop the run; the trainer saves last.pt first"),
        Binding("s", "system", "System", tooltip="Show or hide CPU, memory and GPU use"),
    ]

    def __init__(self) -> None:
        super().__init__(id="training")
        self._session_id: int | None = None
        self._planned: tuple[list[float], list[float]] | None = None
        self._progress_drawn = 0.0
        self._plots_drawn = 0.0
        self._footer_state: tuple | None = None  # what check_action allowed when the footer was last drawn

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(EMPTY, id="empty")
        with Vertical(id="run-view"):
            yield StatusLine(id="status")
            with Horizontal(id="progress-row"):
                yield Static("", id="progress-label")
                yield ProgressBar(total=1, show_eta=False, id="epoch-progress")
            yield Static("", id="error-panel")
            with Horizontal(id="plots"):
                yield AccuracyPlot(id="acc-plot")
                yield LossPlot(id="loss-plot")
                yield TrainingLRPlot(id="lr-plot")
            yield EpochTable(id="epochs")
            yield SystemPane(id="system")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Training"
        self.app.session_signal.subscribe(self, self.on_session_event)
        self.set_interval(1.0, self.tick)
        self.query_one(SystemPane).display = False
        self.catch_up()

    def on_screen_resume(self) -> None:
        self.catch_up()

    def tick(self) -> None:
        session = self.app.session
        if session is not None and session.live and self.app.screen is self:
            self.show_progress(session)
            # Batch series are redrawn here, every PLOT_DRAW_S, not at every progress event: a
            # plot build costs 5-25 ms of a CPU the run trains on. An epoch's end draws at once.
            if time.monotonic() - self._plots_drawn >= PLOT_DRAW_S:
                self.show_plots(session)
        if self.query_one(SystemPane).display and not self.pane_from_session() and self.app.screen is self:
            self.sample_system()

    # --- the system pane -----------------------------------------------------------------------

    def pane_from_session(self) -> bool:
        """An attached run's pane shows its trainer's samples (its machine, its process); a run in
        this process, or none, is sampled here."""
        session = self.app.session
        return session is not None and session.kind == "attached"

    @work(thread=True, group="system-sample", exclusive=True, exit_on_error=False)
    def sample_system(self) -> None:
        self.post_message(SystemSampled(self.app.system_source()))

    def on_system_sampled(self, message: SystemSampled) -> None:
        self.query_one(SystemPane).add(message.sample)

    def action_system(self) -> None:
        pane = self.query_one(SystemPane)
        pane.display = not pane.display
        if pane.display and self.pane_from_session():
            for sample in list(self.app.session.system)[-HISTORY:]:
                pane.add(sample)

    def show_plots(self, session: RunSession) -> None:
        self._plots_drawn = time.monotonic()
        epochs = session.epochs
        self.query_one(AccuracyPlot).set_data(epochs, session.batch_acc.xs, session.batch_acc.ys,
                                              self.test_note(session))
        self.query_one(LossPlot).set_data(epochs, session.batch_loss.xs, session.batch_loss.ys)
        self.query_one(TrainingLRPlot).set_data(session.lr.xs, session.lr.ys, self._planned)

    @staticmethod
    def test_note(session: RunSession) -> str:
        """Why the test curve is missing or sparse: runs that evaluate every N epochs or at the end."""
        if session.started is None:
            return ""
        run = session.started.config.get("run", {})
        every, total = int(run.get("eval_every", 1)), int(run.get("epochs", 0))
        if every >= total > 1:
            return f"test only after epoch {total}"
        return f"test every {every} epochs" if every > 1 else ""

    def on_session_event(self, event: Event | None) -> None:
        if isinstance(event, SystemSample):
            # While hidden, the session keeps them; showing the pane replays its history.
            if self.pane_from_session() and self.query_one(SystemPane).display:
                self.query_one(SystemPane).add(event)
            return
        if isinstance(event, (BatchProgress, DataProgress)) and self._session_id == getattr(self.app.session, "id", None):
            if time.monotonic() - self._progress_drawn >= PROGRESS_DRAW_S:  # the next tick draws the rest
                self.show_progress(self.app.session)
        else:
            self.catch_up()

    # --- drawing from the session --------------------------------------------------------------

    def catch_up(self) -> None:
        session: RunSession | None = self.app.session
        self.set_class(session is None, "-empty")
        if session is None:
            return
        if session.id != self._session_id:
            self._session_id = session.id
            self._planned = None
        if session.started is not None and self._planned is None:
            self._planned = self.planned_lr(session)
        self.query_one(EpochTable).set_epochs(session.epochs)
        self.show_plots(session)
        self.show_progress(session)
        self.show_failure(session)
        self.refresh_footer()

    def refresh_footer(self) -> None:
        """Redraw the footer only when a binding's state changed: redrawing it rebuilds every key's
        widget and restyles them, a tenth of a second of the UI thread at each epoch's events."""
        state = tuple(self.check_action(b.action, ()) for b in self.BINDINGS)
        if state != self._footer_state:
            self._footer_state = state
            self.refresh_bindings()

    def planned_lr(self, session: RunSession) -> tuple[list[float], list[float]] | None:
        try:
            cfg = Config.from_dict(session.started.config)
        except ConfigError:
            return None
        return schedule_points(cfg, session.started.steps_per_epoch)

    def show_progress(self, session: RunSession) -> None:
        self._progress_drawn = time.monotonic()
        self.query_one(StatusLine).show(session)
        total, done, text = self.progress_of(session)
        self.query_one(ProgressBar).update(total=total, progress=done)
        # The label's size is fixed by the row, so no layout pass: a layout pass repaints the screen.
        self.query_one("#progress-label", Static).update(text, layout=False)

    @staticmethod
    def progress_of(session: RunSession) -> tuple[float, float, Text]:
        """The bar's total and progress, and the line beside it."""
        planned = session.planned_epochs or 0
        p = session.progress
        if p is not None and session.live:
            return p.steps_per_epoch, p.step, Text.assemble(
                ("epoch ", "dim"), (f"{p.epoch}/{planned}", "bold"), ("  step ", "dim"), f"{p.step}/{p.steps_per_epoch}",
                ("  loss ", "dim"), f"{p.loss:.4f}", ("  lr ", "dim"), f"{p.lr:.3g}")
        done = max((e.epoch for e in session.epochs), default=0)
        steps = session.started.steps_per_epoch if session.started else 1
        if session.live and session.started is not None and done < planned:
            return steps, 0, Text.assemble(
                ("epoch ", "dim"), (f"{done + 1}/{planned}", "bold"),
                ("  starting" if done == session.started.start_epoch else "  evaluating / saving", "dim"))
        if session.started is None and session.live and (d := session.data_progress) is not None:
            return d.total, d.done, Text(f"decoding {d.done:,}/{d.total:,} images (once: later runs read the cache)",
                                         style="dim")
        if session.started is None and session.live:
            return 1, 0, Text(shown(session.notice) if session.notice else "loading data and building the model ...",
                              style="dim")
        if session.finished is not None and session.finished.stopped and p is not None:
            return p.steps_per_epoch, p.step, Text.assemble(
                ("stopped in epoch ", "dim"), (f"{p.epoch}/{planned}", "bold"), ("  at step ", "dim"),
                f"{p.step}/{p.steps_per_epoch}", ("; last.pt keeps it: resume from F3", "dim"))
        return 1, 1 if done >= planned and planned else 0, Text.assemble(
            ("epoch ", "dim"), (f"{done}/{planned or '?'}", "bold"), (f"  {session.state()}", "dim"))

    def show_failure(self, session: RunSession) -> None:
        panel = self.query_one("#error-panel", Static)
        failed = session.failed
        panel.set_class(failed is not None, "-shown")
        if failed is None:
            panel.update("")
            return
        panel.update(Text.assemble(("Run failed: ", "bold"), shown(failed.message),
                                   ("\nThe app is still usable: F1 to change the setup, F3 to resume from last.pt.", "dim")))

    # --- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        session: RunSession | None = self.app.session
        controllable = session is not None and session.live and session.kind != "replay"
        if action == "pause":
            if session is not None and session.paused and session.live:
                return False
            return True if controllable and not session.stopping else None
        if action == "resume_run":
            return True if controllable and session.paused else False
        if action == "stop":
            return True if controllable and not session.stopping else None
        return True

    def action_pause(self) -> None:
        session = self.app.session
        if session is not None:
            session.pause()
            self.notify("Pausing at the next step", timeout=3)

    def action_resume_run(self) -> None:
        session = self.app.session
        if session is not None:
            session.resume()

    def action_stop(self) -> None:
        session = self.app.session
        if session is not None and session.live:
            session.stop()
            self.notify("Stopping at the next step; the trainer saves last.pt first", timeout=4)
            self.catch_up()
