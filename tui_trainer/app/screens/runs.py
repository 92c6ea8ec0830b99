"""Runs (F3): every run of the runs folder in one table to filter, sort and compare; the selected
runs' curves overlaid (OverlayPane); the highlighted run's checkpoints, evaluated with the worst
mistakes (CheckpointPane).

The screen only draws and reacts: its panes own their workers (the runs table lists, saves notes
and deletes through the runs store, workspace/). The listing re-reads only folders whose files
changed, so the refresh every few seconds costs a training run nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from ...events import CheckpointSaved, Event, RunFailed, RunFinished, RunStarted
from ...text import shown
from ...workspace import folder
from ...workspace.columns import COLUMNS
from ...workspace.listing import CheckpointInfo, RunRow
from ...workspace.notes import Notes
from ..dialogs import InfoModal, NotesModal, PickModal, resume_epochs_modal
from ..messages import AttachRequested, RunRequested
from ..widgets.checkpoint_pane import CheckpointPane, EvalDone, EvalProgress, EvalStarted
from ..widgets.mistakes import MistakesStrip
from ..widgets.overlay_pane import OverlayPane
from ..widgets.run_views import keys_help, settings_diff
from ..widgets.runs_table import RunsTable

AUTO_REFRESH_S = 5.0


class RunsScreen(Screen):
    AUTO_FOCUS = "#runs"
    # The footer shows what fits in 80 columns; every binding is in the palette and in ? Help.
    BINDINGS = [
        Binding("space", "select", "Select", key_display="␣", tooltip="Select or unselect the run: selected runs are overlaid"),
        Binding("e", "evaluate", "Eval",
                tooltip="Evaluate the highlighted checkpoint on the test split, with its calibration"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Type a filter (? lists its syntax)"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort by a column (or click its header; again: reverse)"),
        Binding("c", "diff", "Diff", show=False, tooltip="The settings that differ between two runs, side by side"),
        Binding("n", "notes", "Note and tags", show=False, tooltip="Edit the run's note and tags"),
        Binding("p", "predict", "Predict a file", show=False,
                tooltip="Predict the class of an image file with the highlighted checkpoint"),
        Binding("w", "report", "Write report", show=False,
                tooltip="Write the highlighted run's report: one self-contained HTML file (RUN/report.html)"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys and the filter syntax"),
        Binding("a", "attach", "Attach", tooltip="Watch the run another tui-trainer process trains"),
        Binding("m", "metric", "Plot metric", show=False, tooltip="Overlay test acc, train acc, val acc, train loss or LR"),
        Binding("v", "x_axis", "Plot by time", show=False, tooltip="x axis: epochs or minutes of training"),
        Binding("l", "log_y", "Log y", show=False, tooltip="Log scale for train loss and LR"),
        Binding("g", "group", "Group", show=False,
                tooltip="Group the table: by settings but the seed, by preset, by study, or not (each press)"),
        Binding("b", "baseline", "Baseline", show=False,
                tooltip="The highlighted run's group is the baseline: every group says how it compares (again: none)"),
        Binding("o", "open_group", "Open group", show=False, tooltip="Show a group's runs under its row (again: fold them)"),
        Binding("t", "again", "Train again", show=False,
                tooltip="Open the run's settings, its seed too, in Setup (F5 trains it again; CLI: train --like)"),
        Binding("k", "all_keys", "All settings", show=False, tooltip="Show every setting, not only those that differ"),
        Binding("r", "resume", "Resume", show=False, tooltip="Continue the run from its last.pt"),
        Binding("d", "delete", "Delete", show=False, tooltip="Delete the selected runs (or this one), after a confirmation"),
        Binding("f5", "refresh", "Refresh", show=False, priority=True, tooltip="List the runs again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="runs-screen")
        self.current: RunRow | None = None  # the highlighted run
        self._members: dict[str, list[str]] = {}  # each curve's runs: a group's colour marks them all

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="runs-body", can_focus=False):
            yield Static("Runs", classes="pane-title", id="runs-title")
            yield RunsTable(self.app.runs, id="runs-pane")
            with Horizontal(id="eval-row"):
                yield Static("", id="eval-label")
                yield ProgressBar(total=1, show_eta=False, id="eval-progress")
            with Horizontal(id="runs-middle"):
                yield OverlayPane(id="runs-left")
                yield CheckpointPane(self.app.data, self.app.device, self.app.get_dataset, id="runs-right")
            yield MistakesStrip(id="mistakes")
        yield Footer(compact=True)

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    @property
    def runs(self) -> list[RunRow]:
        return self.table.rows

    @property
    def checkpoints(self) -> CheckpointPane:
        return self.query_one(CheckpointPane)

    # What tests and the palette read of the checkpoint pane.
    @property
    def checkpoint_infos(self) -> list[CheckpointInfo]:
        return self.checkpoints.table.rows_shown

    @property
    def last_result(self) -> Any:  # noqa: ANN401 - an EvalResult
        return self.checkpoints.last_result

    def current_checkpoint(self) -> Path | None:
        info = self.checkpoints.selected()
        return info.path if info is not None else None

    def checkpoint_status(self, name: str) -> str:
        return self.checkpoints.table.status(name)

    def on_mount(self) -> None:
        self.sub_title = "Runs"
        self.app.session_signal.subscribe(self, self.on_session_event)
        self.set_interval(AUTO_REFRESH_S, self.auto_refresh)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        # Also when nothing here said the runs changed: another process may have started one,
        # and a listing of unchanged folders is a few stats each. After the first frame: the
        # worker's stats would share the GIL with drawing the screen.
        self.call_after_refresh(self.action_refresh)

    def on_session_event(self, event: Event | None) -> None:
        if event is None or isinstance(event, (RunStarted, CheckpointSaved, RunFinished, RunFailed)):
            if self.app.screen is self:
                self.action_refresh()

    def auto_refresh(self) -> None:
        if self.app.screen is self:
            self.action_refresh()

    # --- listing -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.table.refresh_listing()

    @on(RunsTable.Listed)
    def runs_listed(self, message: RunsTable.Listed) -> None:
        self.query_one("#runs-title", Static).update(Text.assemble(
            f"Runs in {shown(self.app.runs)} ", (f"{len(message.rows)}; space selects runs to overlay, / filters", "dim")))
        if message.changed:
            self.load_curves()

    @on(RunsTable.Highlighted)
    def run_highlighted(self, message: RunsTable.Highlighted) -> None:
        row = message.row
        changed = (row is None) != (self.current is None) or (row is not None and row.path != self.current.path)
        self.current = row
        self.checkpoints.show_run(row)
        if changed and not self.table.selected:
            self.load_curves()  # with nothing selected the plot follows the highlighted run
        self.refresh_bindings()

    # --- the overlay ---------------------------------------------------------------------------

    def plotted_rows(self) -> list[RunRow]:
        """The selected runs, or the highlighted one while none is selected."""
        return self.table.selected_rows() or ([self.current] if self.current is not None else [])

    def load_curves(self) -> None:
        curves = self.table.curves_for(self.plotted_rows())
        self._members = {label: names for label, _, names in curves}
        self.query_one(OverlayPane).show_runs([(label, paths) for label, paths, _ in curves])

    def on_overlay_pane_coloured(self, message: OverlayPane.Coloured) -> None:
        self.table.set_colours({name: colour for label, colour in message.colours.items()
                                for name in self._members.get(label, [label])})

    def on_checkpoint_pane_changed(self) -> None:
        self.refresh_bindings()

    @on(RunsTable.SelectionChanged)
    def selection_changed(self) -> None:
        self.load_curves()
        self.refresh_bindings()

    def action_select(self) -> None:
        self.table.toggle_selected()

    def action_metric(self) -> None:
        self.notify(self.query_one(OverlayPane).next_metric(), timeout=2)

    def action_x_axis(self) -> None:
        self.query_one(OverlayPane).toggle_time()

    def action_log_y(self) -> None:
        if note := self.query_one(OverlayPane).toggle_log_y():
            self.notify(note, timeout=3)

    # --- the table -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#runs-filter").focus()

    def action_sort(self) -> None:
        table = self.table
        options = [(key, COLUMNS[key].header if key in COLUMNS else key) for key in table.column_keys() if key != "mark"]

        def picked(key: str | None) -> None:
            if key:
                table.sort_by(key)

        self.app.push_screen(PickModal("Sort by (the same column again reverses):", options, table.sort_key), picked)

    def action_group(self) -> None:
        self.notify(self.table.cycle_grouping(), timeout=3)
        self.load_curves()  # grouped, a selected run's curve is its group's mean and band

    def action_baseline(self) -> None:
        self.table.toggle_baseline()

    def action_open_group(self) -> None:
        self.table.toggle_open()

    def action_again(self) -> None:
        """The highlighted run's settings, its seed too, in Setup: F5 trains it again."""
        row = self.current
        if row is not None:
            self.app.switch_mode("setup")
            self.app.screen.load_run(row)

    def action_all_keys(self) -> None:
        self.table.all_keys = not self.table.all_keys
        self.table.redraw()

    def action_help(self) -> None:
        self.app.push_screen(InfoModal("The Runs screen", keys_help(self.BINDINGS)))

    def action_diff(self) -> None:
        chosen = self.table.selected_rows()
        if len(chosen) == 1 and self.current is not None and self.current.path != chosen[0].path:
            chosen = [chosen[0], self.current]
        if len(chosen) != 2:
            self.notify("Select two runs with space (or one, and highlight the other) to diff them",
                        severity="warning")
            return
        a, b = chosen
        self.app.push_screen(InfoModal(Text(f"{shown(a.name)}  vs  {shown(b.name)}"), settings_diff(a, b)))

    # --- notes and tags ------------------------------------------------------------------------

    def action_notes(self) -> None:
        row = self.current
        if row is None:
            return

        def answered(result: tuple[str, list[str]] | None) -> None:
            if result is not None:
                self.table.save_notes(row.path, Notes(result[0].strip(), list(dict.fromkeys(result[1]))))

        self.app.push_screen(NotesModal(row.name, row.note, row.tags), answered)

    # --- evaluation: the checkpoint pane evaluates, the screen shows its progress and mistakes ---

    def action_evaluate(self) -> None:
        self.checkpoints.evaluate()

    def action_predict(self) -> None:
        self.checkpoints.predict()

    def action_report(self) -> None:
        self.checkpoints.report()

    def on_eval_started(self, message: EvalStarted) -> None:
        self.set_class(True, "-evaluating")
        self.query_one("#eval-progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#eval-label", Static).update(Text.assemble(
            ("evaluating ", "dim"), (shown(f"{message.path.parent.parent.name}/{message.path.name}"), "bold"), " ..."))

    def on_eval_progress(self, message: EvalProgress) -> None:
        self.query_one("#eval-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_eval_failed(self) -> None:
        self.set_class(False, "-evaluating")
        self.query_one("#eval-label", Static).update("")

    def on_eval_done(self, message: EvalDone) -> None:
        self.set_class(False, "-evaluating")
        self.query_one("#eval-label", Static).update("")
        self.query_one(MistakesStrip).show(message.result.classes, message.result.worst, message.images, message.path)

    # --- run actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        row = self.current
        if action in ("evaluate", "predict"):
            return True if self.checkpoint_infos else None
        if action == "resume":
            ok = row is not None and not row.live and any(p.name == "last.pt" for p in row.checkpoints)
            return True if ok else None
        if action in ("delete", "notes", "select"):
            return True if row is not None else None
        if action == "attach":  # shown only where it applies: a run another process trains now
            return True if row is not None and row.live else False
        return True

    def action_resume(self) -> None:
        row = self.current
        if row is None:
            return
        if not any(p.name == "last.pt" for p in row.checkpoints):
            self.notify(f"{row.name} has no last.pt to resume from", severity="warning")
            return
        if folder.live_pid(row.path) is not None:
            self.notify(f"{row.name} is training now; attach to it with a", severity="warning")
            return
        if self.app.refuse_if_training("Not resumed"):
            return
        if row.config.get("run.budget_s"):  # a budget run resumes on its own clock: no epochs to ask
            self.post_message(RunRequested(None, row.preset, resume=row.path))
            return

        def answered(text: str | None) -> None:
            if text:
                self.post_message(RunRequested(None, row.preset, resume=row.path, epochs=int(text)))

        self.app.push_screen(resume_epochs_modal(row.name, row.epochs_done, row.epochs_planned), answered)

    def action_delete(self) -> None:
        self.table.delete(self.table.selected_rows() or self.table.rows_at_cursor())

    def action_attach(self) -> None:
        row = self.current
        if row is None:
            return
        pid = folder.live_pid(row.path)
        if pid is None:
            self.notify(f"{row.name} is not training now", severity="warning")
            return
        session = self.app.session
        if pid == os.getpid() or (session is not None and session.live and session.run_dir == row.path):
            self.app.switch_mode("training")
            return
        self.post_message(AttachRequested(row.path))
