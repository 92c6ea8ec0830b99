"""Training: the live view of the app's run session, whatever feeds it.

The screen draws only from `app.session` (see session.py). It catches up on the session's
history when it mounts, when it comes back into view and on every event the app publishes, so
leaving it and coming back loses nothing, and a run followed from another process looks the same.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from ...config import Config, ConfigError
from ...training.events import BatchProgress, Event
from ..session import RunSession
from ..widgets.epoch_table import EpochTable
from ..widgets.lr_plot import schedule_points
from ..widgets.metric_plots import AccuracyPlot, LossPlot, TrainingLRPlot
from ..widgets.status_line import StatusLine

EMPTY = "No run yet — press F1 to set one up (or F3 to resume or attach to a run)"


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "Pause", tooltip="Pause the run at the next step"),
        Binding("p", "resume_run", "Resume", tooltip="Resume the paused run"),
        Binding("x", "stop", "Stop (saves last.pt)", tooltip="Stop the run; the trainer saves last.pt first"),
    ]

    def __init__(self) -> None:
        super().__init__(id="training")
        self._session_id: int | None = None
        self._planned: tuple[list[float], list[float]] | None = None
        self._notified_failure = False

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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Training"
        self.app.session_signal.subscribe(self, self.on_session_event)
        self.set_interval(1.0, self.tick)
        self.catch_up()

    def on_screen_resume(self) -> None:
        self.catch_up()

    def tick(self) -> None:
        session = self.app.session
        if session is not None and session.live and self.app.screen is self:
            self.query_one(StatusLine).show(session)

    def on_session_event(self, event: Event | None) -> None:
        if isinstance(event, BatchProgress) and self._session_id == getattr(self.app.session, "id", None):
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
            self._notified_failure = False
        if session.started is not None and self._planned is None:
            self._planned = self.planned_lr(session)
        epochs = session.epochs
        self.query_one(EpochTable).set_epochs(epochs)
        self.query_one(AccuracyPlot).set_epochs(epochs)
        self.query_one(LossPlot).set_epochs(epochs)
        self.query_one(TrainingLRPlot).set_data(session.lr.xs, session.lr.ys, self._planned)
        self.show_progress(session)
        self.show_failure(session)
        self.refresh_bindings()

    def planned_lr(self, session: RunSession) -> tuple[list[float], list[float]] | None:
        try:
            cfg = Config.from_dict(session.started.config)
        except ConfigError:
            return None
        return schedule_points(cfg, session.started.steps_per_epoch)

    def show_progress(self, session: RunSession) -> None:
        self.query_one(StatusLine).show(session)
        bar = self.query_one(ProgressBar)
        label = self.query_one("#progress-label", Static)
        planned = session.planned_epochs or 0
        p = session.progress
        if p is not None and session.live:
            bar.update(total=p.steps_per_epoch, progress=p.step)
            label.update(Text.assemble(("epoch ", "dim"), (f"{p.epoch}/{planned}", "bold"),
                                       ("  step ", "dim"), f"{p.step}/{p.steps_per_epoch}",
                                       ("  loss ", "dim"), f"{p.loss:.4f}", ("  lr ", "dim"), f"{p.lr:.3g}"))
            return
        done = max((e.epoch for e in session.epochs), default=0)
        steps = session.started.steps_per_epoch if session.started else 1
        if session.live and session.started is not None and done < planned:
            bar.update(total=steps, progress=0)
            label.update(Text.assemble(("epoch ", "dim"), (f"{done + 1}/{planned}", "bold"),
                                       ("  starting" if done == session.started.start_epoch else "  evaluating / saving", "dim")))
        elif session.started is None and session.live:
            bar.update(total=1, progress=0)
            label.update(Text("loading data and building the model ...", style="dim"))
        elif session.finished is not None and session.finished.stopped and p is not None:
            bar.update(total=p.steps_per_epoch, progress=p.step)
            label.update(Text.assemble(("stopped in epoch ", "dim"), (f"{p.epoch}/{planned}", "bold"),
                                       ("  at step ", "dim"), f"{p.step}/{p.steps_per_epoch}",
                                       ("; last.pt keeps it: resume from F3", "dim")))
        else:
            bar.update(total=1, progress=1 if done >= planned and planned else 0)
            label.update(Text.assemble(("epoch ", "dim"), (f"{done}/{planned or '?'}", "bold"),
                                       (f"  {session.state()}", "dim")))

    def show_failure(self, session: RunSession) -> None:
        panel = self.query_one("#error-panel", Static)
        failed = session.failed
        panel.set_class(failed is not None, "-shown")
        if failed is None:
            panel.update("")
            return
        panel.update(Text.assemble(("Run failed: ", "bold"), failed.message,
                                   ("\nThe app is still usable: F1 to change the setup, F3 to resume from last.pt.", "dim")))
        if not self._notified_failure:
            self._notified_failure = True
            self.notify(failed.message, title="Run failed", severity="error", timeout=10)

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
