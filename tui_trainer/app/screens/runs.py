"""Runs (F3): every run of the runs folder in one table to filter, sort and compare; the selected
runs' curves overlaid; the highlighted run's checkpoints, evaluated with the worst mistakes.

The screen only draws and reacts. Listing, checkpoint peeks, notes and deletes are engine calls
(training/listing.py, checkpoints.py, notes.py, runs.py) made from thread workers that post the
messages below; the listing re-reads only folders whose files changed, so the refresh every few
seconds costs a training run nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from ...text import human_size, shown
from ...config import ConfigError, check_field
from ...workspace import folder
from ...events import CheckpointSaved, EpochEnded, Event, RunFailed, RunFinished, RunStarted
from ...workspace.listing import CheckpointInfo, Listing, RunRow
from ...workspace.notes import Notes, NotesError, check_tag
from ...workspace.columns import COLUMNS, diff_pair
from ...workspace.filter import FILTER_HELP
from ..messages import AttachRequested, RunRequested
from ..widgets.checkpoint_table import CheckpointTable
from ..widgets.eval_panel import EvalPanel
from ..widgets.mistakes import MistakesStrip
from ..widgets.overlay_plot import METRICS, OverlayPlot, RunCurve
from ..widgets.prediction import PredictionView
from ..widgets.runs_table import RunsTable
from ..dialogs import AskModal, ConfirmModal, InfoModal, NotesModal, PickModal

WORST = 12  # mistakes shown as thumbnails
PREDICT_TOP = 5  # classes shown for a predicted file
AUTO_REFRESH_S = 5.0


# --- what the workers post ---------------------------------------------------------------------

@dataclass
class RunsListed(Message):
    rows: list[RunRow]


@dataclass
class CheckpointsListed(Message):
    run_dir: Path
    infos: list[CheckpointInfo]


@dataclass
class CurvesLoaded(Message):
    curves: list[RunCurve]


@dataclass
class EvalProgress(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgress)


@dataclass
class EvalDone(Message):
    """An EvalResult, with the worst mistakes' test images (3, H, W uint8 arrays) for thumbnails."""
    path: Path
    result: Any
    images: list[Any] = field(default_factory=list)


@dataclass
class EvalFailed(Message):
    path: Path
    message: str
    unreadable: bool  # the checkpoint itself is the problem (not the data)


@dataclass
class Predicted(Message):
    """A file predicted with a checkpoint: a training.predict.Prediction (with its pixels), or why not."""
    checkpoint: Path
    image: Path
    prediction: Any = None
    image_size: int = 0
    error: str | None = None


@dataclass
class DeleteSized(Message):
    paths: list[Path]
    size: int


@dataclass
class RunsDeleted(Message):
    deleted: list[Path]
    failed: list[str]  # one line each: the folder and why


@dataclass
class NotesSaved(Message):
    run_dir: Path
    error: str | None


class RunsScreen(Screen):
    AUTO_FOCUS = "#runs"
    # The footer shows what fits in 80 columns; every binding is in the palette and in ? Help.
    BINDINGS = [
        Binding("space", "select", "Select", key_display="␣", tooltip="Select or unselect the run: selected runs are overlaid"),
        Binding("e", "evaluate", "Eval", tooltip="Evaluate the highlighted checkpoint on the test split"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Type a filter (? lists its syntax)"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort by a column (or click its header; again: reverse)"),
        Binding("c", "diff", "Diff", show=False, tooltip="The settings that differ between two runs, side by side"),
        Binding("n", "notes", "Note and tags", show=False, tooltip="Edit the run's note and tags"),
        Binding("p", "predict", "Predict a file", show=False,
                tooltip="Predict the class of an image file with the highlighted checkpoint"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys and the filter syntax"),
        Binding("a", "attach", "Attach", tooltip="Watch the run another tui-trainer process trains"),
        Binding("m", "metric", "Plot metric", show=False, tooltip="Overlay test acc, train acc, train loss or LR"),
        Binding("v", "x_axis", "Plot by time", show=False, tooltip="x axis: epochs or minutes of training"),
        Binding("l", "log_y", "Log y", show=False, tooltip="Log scale for train loss and LR"),
        Binding("g", "group", "Group by preset", show=False, tooltip="Group the table by preset"),
        Binding("k", "all_keys", "All settings", show=False, tooltip="Show every setting, not only those that differ"),
        Binding("r", "resume", "Resume", show=False, tooltip="Continue the run from its last.pt"),
        Binding("d", "delete", "Delete", show=False, tooltip="Delete the selected runs (or this one), after a confirmation"),
        Binding("f5", "refresh", "Refresh", show=False, priority=True, tooltip="List the runs again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="runs-screen")
        self.listing: Listing | None = None
        self.current: RunRow | None = None  # the highlighted run
        self.last_result = None  # the EvalResult shown, for tests and the palette
        self.last_result_path: Path | None = None
        self._listed: tuple | None = None
        self._ckpt_cache: dict = {}
        self._metrics_cache: dict[Path, tuple[tuple, list[EpochEnded]]] = {}
        self._predict_path = ""  # the last image path asked for, offered again
        self._listing: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="runs-body", can_focus=False):
            yield Static("Runs", classes="pane-title", id="runs-title")
            yield RunsTable(id="runs-pane")
            with Horizontal(id="eval-row"):
                yield Static("", id="eval-label")
                yield ProgressBar(total=1, show_eta=False, id="eval-progress")
            with Horizontal(id="runs-middle"):
                with Vertical(id="runs-left"):
                    yield OverlayPlot(id="overlay")
                    yield Static("", id="legend")
                with Vertical(id="runs-right"):
                    yield Static("Checkpoints", classes="pane-title", id="ckpt-title")
                    yield CheckpointTable(id="ckpts")
                    yield EvalPanel(id="eval-pane")
            yield MistakesStrip(id="mistakes")
        yield Footer(compact=True)

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    @property
    def runs(self) -> list[RunRow]:
        return self.table.rows

    @property
    def checkpoint_infos(self) -> list[CheckpointInfo]:
        return self.query_one(CheckpointTable).rows_shown

    def on_mount(self) -> None:
        self.sub_title = "Runs"
        self.listing = Listing(self.app.runs)
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
        # One listing at a time: a new mode's screen hears of its mount and two resumes at once,
        # and two cold listings of a thousand folders would share the GIL with the first frame.
        if self._listing is None or self._listing.is_finished:
            self._listing = self.list_runs()

    @work(thread=True, group="runs-list", exclusive=True, exit_on_error=False)
    def list_runs(self) -> None:
        rows = self.listing.rows()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsListed(rows))

    def on_runs_listed(self, message: RunsListed) -> None:
        # The listing hands back the same row objects for folders that did not change.
        listed = tuple(id(r) for r in message.rows)
        self.query_one("#runs-title", Static).update(Text.assemble(
            f"Runs in {shown(self.app.runs)} ", (f"{len(message.rows)}; space selects runs to overlay, / filters", "dim")))
        if listed == self._listed:
            return
        self._listed = listed
        self.table.show_rows(message.rows)
        self.load_curves()

    @on(RunsTable.Highlighted)
    def run_highlighted(self, message: RunsTable.Highlighted) -> None:
        row = message.row
        changed = (row is None) != (self.current is None) or (row is not None and row.path != self.current.path)
        self.current = row
        if row is None:
            self.query_one("#ckpt-title", Static).update("Checkpoints")
            self.query_one(CheckpointTable).show([])
        else:  # also for the same run: its checkpoints may have changed
            self.query_one("#ckpt-title", Static).update(Text.assemble("Checkpoints of ", (shown(row.name), "bold")))
            if changed:
                self.query_one(CheckpointTable).show(None)
            # After the table is drawn: the first peek imports torch, whose import in a worker
            # holds the GIL long enough to delay the table's first frame by seconds.
            self.call_after_refresh(self.list_checkpoints, row.path, list(row.checkpoints))
        if changed and not self.table.selected:
            self.load_curves()  # with nothing selected the plot follows the highlighted run
        self.refresh_bindings()

    @work(thread=True, group="ckpt-list", exclusive=True, exit_on_error=False)
    def list_checkpoints(self, run_dir: Path, paths: list[Path]) -> None:
        from ...training.checkpoints import describe  # torch: imported off the UI thread

        infos = [describe(p, self._ckpt_cache) for p in paths]
        if not get_current_worker().is_cancelled:
            self.post_message(CheckpointsListed(run_dir, infos))

    def on_checkpoints_listed(self, message: CheckpointsListed) -> None:
        if self.current is not None and message.run_dir == self.current.path:
            self.query_one(CheckpointTable).show(message.infos)
            self.explain_checkpoint()
            self.refresh_bindings()

    @on(CheckpointTable.RowHighlighted, "#ckpts")
    def checkpoint_highlighted(self) -> None:
        self.explain_checkpoint()

    @on(CheckpointTable.RowSelected, "#ckpts")
    def checkpoint_chosen(self) -> None:
        self.action_evaluate()

    def explain_checkpoint(self) -> None:
        """Say why the highlighted checkpoint cannot be read, unless a result is shown for it."""
        info = self.query_one(CheckpointTable).selected()
        if info is not None and info.error and self.last_result_path != info.path:
            self.query_one(EvalPanel).show_problem(info.path.name, f"unreadable: {info.error}")

    def current_checkpoint(self) -> Path | None:
        info = self.query_one(CheckpointTable).selected()
        return info.path if info is not None else None

    def checkpoint_status(self, name: str) -> str:
        return self.query_one(CheckpointTable).status(name)

    # --- the overlay ---------------------------------------------------------------------------

    def plotted_rows(self) -> list[RunRow]:
        """The selected runs, or the highlighted one while none is selected."""
        return self.table.selected_rows() or ([self.current] if self.current is not None else [])

    def load_curves(self) -> None:
        self.read_curves([(r.name, r.path) for r in self.plotted_rows()])

    @work(thread=True, group="curves", exclusive=True, exit_on_error=False)
    def read_curves(self, runs: list[tuple[str, Path]]) -> None:
        curves = []
        for name, path in runs:
            try:
                st = os.stat(path / folder.METRICS)
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            cached = self._metrics_cache.get(path)
            if cached is None or cached[0] != stamp:
                cached = (stamp, folder.read_metrics(path))
                self._metrics_cache[path] = cached
            curves.append(RunCurve(name, cached[1]))
        if not get_current_worker().is_cancelled:
            self.post_message(CurvesLoaded(curves))

    def on_curves_loaded(self, message: CurvesLoaded) -> None:
        plot = self.query_one(OverlayPlot)
        plot.show(message.curves)
        colours = {c.name: plot.colour_of(c.name) for c in message.curves}
        self.table.set_colours(colours)
        legend = Text()
        for curve in message.curves:
            r, g, b = colours[curve.name]
            legend.append("━━\u00a0", style=f"rgb({r},{g},{b})")  # no-break: a key stays with its run
            legend.append(shown(curve.name).replace("-", "\u2011") + "  ")
        self.query_one("#legend", Static).update(legend)

    @on(RunsTable.SelectionChanged)
    def selection_changed(self) -> None:
        self.load_curves()
        self.refresh_bindings()

    def action_select(self) -> None:
        self.table.toggle_selected()

    def action_metric(self) -> None:
        plot = self.query_one(OverlayPlot)
        names = list(METRICS)
        plot.show(plot.curves, metric=names[(names.index(plot.metric) + 1) % len(names)])
        self.notify(f"Plotting {METRICS[plot.metric][0]}", timeout=2)

    def action_x_axis(self) -> None:
        plot = self.query_one(OverlayPlot)
        plot.show(plot.curves, by_time=not plot.by_time)

    def action_log_y(self) -> None:
        plot = self.query_one(OverlayPlot)
        plot.show(plot.curves, log_y=not plot.log_y)
        if plot.metric not in ("train_loss", "lr"):
            self.notify("Log y applies to train loss and LR (m switches the metric)", timeout=3)

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
        self.table.grouped = not self.table.grouped
        self.table.redraw()

    def action_all_keys(self) -> None:
        self.table.all_keys = not self.table.all_keys
        self.table.redraw()

    def action_help(self) -> None:
        keys = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        for binding in self.BINDINGS:
            keys.add_row(Text(binding.key_display or binding.key, style="bold"), binding.description,
                         Text(binding.tooltip, style="dim"))
        body = Table.grid()
        body.add_row(keys)
        body.add_row(Text("\nFilter syntax", style="bold"))
        body.add_row(Text(FILTER_HELP))
        self.app.push_screen(InfoModal("The Runs screen", body))

    def action_diff(self) -> None:
        chosen = self.table.selected_rows()
        if len(chosen) == 1 and self.current is not None and self.current.path != chosen[0].path:
            chosen = [chosen[0], self.current]
        if len(chosen) != 2:
            self.notify("Select two runs with space (or one, and highlight the other) to diff them",
                        severity="warning")
            return
        a, b = chosen
        grid = Table(box=None, header_style="bold", padding=(0, 2, 0, 0))
        grid.add_column("setting")
        grid.add_column(Text(shown(a.name)), overflow="fold")
        grid.add_column(Text(shown(b.name)), overflow="fold")
        rows = diff_pair(a.record(), b.record())
        for key, left, right in rows:
            grid.add_row(Text(key), Text(left), Text(right), style="dim" if "." not in key else "")
        if all("." not in key for key, _, _ in rows):
            grid.add_row(Text("(the same settings)", style="dim"), "", "")
        self.app.push_screen(InfoModal(Text(f"{shown(a.name)}  vs  {shown(b.name)}"), grid))

    # --- notes and tags ------------------------------------------------------------------------

    def action_notes(self) -> None:
        row = self.current
        if row is None:
            return

        def check(tags: list[str]) -> str | None:
            try:
                for tag in tags:
                    check_tag(tag)
            except NotesError as e:
                return str(e)
            return None

        def answered(result: tuple[str, list[str]] | None) -> None:
            if result is not None:
                self.save_notes(row.path, Notes(result[0].strip(), list(dict.fromkeys(result[1]))))

        self.app.push_screen(NotesModal(row.name, row.note, row.tags, check), answered)

    @work(thread=True, group="notes", exit_on_error=False)
    def save_notes(self, run_dir: Path, notes: Notes) -> None:
        from ...workspace.notes import write_notes

        try:
            write_notes(run_dir, notes)
            error = None
        except OSError as e:
            error = f"{run_dir.name}: {e.strerror or e}"
        self.post_message(NotesSaved(run_dir, error))

    def on_notes_saved(self, message: NotesSaved) -> None:
        if message.error:
            self.notify(message.error, title="Note not saved", severity="error")
        self.action_refresh()

    # --- evaluation ----------------------------------------------------------------------------

    def action_evaluate(self) -> None:
        info = self.query_one(CheckpointTable).selected()
        if info is None:
            self.notify("This run has no checkpoint yet", severity="warning")
            return
        self.last_result = None
        self.set_class(True, "-evaluating")
        self.query_one("#eval-progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#eval-label", Static).update(
            Text.assemble(("evaluating ", "dim"), (f"{info.path.parent.parent.name}/{info.path.name}", "bold"), " ..."))
        self.evaluate(info.path)

    @work(thread=True, group="eval", exclusive=True, exit_on_error=False)
    def evaluate(self, path: Path) -> None:
        from ...data import DataError
        from ...training.checkpoints import CheckpointError
        from ...training.evaluate import evaluate_checkpoint

        worker = get_current_worker()
        try:
            # Each run is evaluated on the data it was trained on, not necessarily the app's --data.
            recorded = folder.run_data(path.parent.parent)
            source = recorded.source or self.app.data
            # A checkpoint outside a readable run folder gets the auto data settings (None).
            dataset = self.app.get_dataset(source, recorded.settings)
            result = evaluate_checkpoint(path, source, self.app.device, tta=False, worst=WORST, dataset=dataset,
                                         progress=lambda done, total: self.post_message(EvalProgress(done, total)))
            images = [dataset.test_x[m.index].cpu().numpy() for m in result.worst]
        except CheckpointError as e:
            self.post_message(EvalFailed(path, str(e), unreadable=True))
            return
        except (DataError, ValueError) as e:
            self.post_message(EvalFailed(path, str(e), unreadable=False))
            return
        except Exception as e:  # noqa: BLE001 - a bug: show it, keep the app
            self.post_message(EvalFailed(path, f"unexpected {type(e).__name__}: {e}", unreadable=False))
            return
        if not worker.is_cancelled:
            self.post_message(EvalDone(path, result, images))

    def on_eval_progress(self, message: EvalProgress) -> None:
        self.query_one("#eval-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_eval_failed(self, message: EvalFailed) -> None:
        self.set_class(False, "-evaluating")
        prefix = f"{message.path}: "
        reason = message.message[len(prefix):] if message.message.startswith(prefix) else message.message
        self.query_one("#eval-label", Static).update("")
        self.query_one(EvalPanel).show_problem(message.path.name, reason)
        self.notify(reason, title=f"Cannot evaluate {message.path.name}", severity="error")
        if message.unreadable:
            self.query_one(CheckpointTable).mark_unreadable(message.path, reason)

    def on_eval_done(self, message: EvalDone) -> None:
        self.set_class(False, "-evaluating")
        result = message.result
        self.last_result, self.last_result_path = result, message.path
        self.query_one("#eval-label", Static).update("")
        self.query_one(EvalPanel).show_result(message.path, result)
        self.query_one(MistakesStrip).show(result.classes, result.worst, message.images)

    # --- prediction of a file ------------------------------------------------------------------

    def action_predict(self) -> None:
        checkpoint = self.current_checkpoint()
        if checkpoint is None:
            self.notify("This run has no checkpoint to predict with", severity="warning")
            return

        def check(text: str) -> str | None:
            if not text:
                return "Type the path of an image file (png, jpg, bmp, webp, ...)"
            path = Path(text).expanduser()
            if path.is_dir():
                return f"{path} is a folder: give one image file (tui-trainer predict takes folders)"
            return None if path.is_file() else f"{path}: no such file"

        def answered(text: str | None) -> None:
            if text:
                self._predict_path = text
                self.predict_file(checkpoint, Path(text).expanduser())

        self.app.push_screen(AskModal(f"Predict an image with {checkpoint.parent.parent.name}/{checkpoint.name}.\n"
                                      f"Image file:", self._predict_path, check, placeholder="path/to/image.png"),
                             answered)

    @work(thread=True, group="predict", exclusive=True, exit_on_error=False)
    def predict_file(self, checkpoint: Path, image: Path) -> None:
        from ...training.checkpoints import CheckpointError  # torch: imported off the UI thread
        from ...training.predict import predict_images

        try:
            result = predict_images(checkpoint, [image], self.app.device, top=PREDICT_TOP, keep_pixels=True)
        except (CheckpointError, ValueError) as e:
            self.post_message(Predicted(checkpoint, image, error=str(e)))
            return
        except Exception as e:  # noqa: BLE001 - a bug: show it, keep the app
            self.post_message(Predicted(checkpoint, image, error=f"unexpected {type(e).__name__}: {e}"))
            return
        if not result.predictions:
            reason = result.unreadable[0].reason if result.unreadable else "not an image file"
            self.post_message(Predicted(checkpoint, image, error=f"{image}: {reason}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(Predicted(checkpoint, image, result.predictions[0], result.image_size))

    def on_predicted(self, message: Predicted) -> None:
        if message.error is not None:
            self.notify(message.error, title=f"Cannot predict {message.image.name}", severity="error")
            return
        p = message.prediction
        size = message.image_size
        self.app.push_screen(InfoModal(
            Text.assemble(f"{shown(message.image)}  ",
                          (f"by {shown(message.checkpoint.parent.parent.name)}/{shown(message.checkpoint.name)}", "dim")),
            PredictionView(p.pixels, [(g.name, g.probability) for g in p.top], f"as the model sees it ({size}x{size})",
                           id="prediction")))

    # --- run actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        row = self.current
        if action in ("evaluate", "predict"):
            return True if self.query_one(CheckpointTable).rows_shown else None
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

        def check(text: str) -> str | None:
            try:
                check_field("run.epochs", text)
            except ConfigError as e:
                return str(e)
            if row.epochs_done and int(text) <= row.epochs_done:
                return f"{row.name} has done {row.epochs_done} epochs already: give a larger total"
            return None

        def answered(text: str | None) -> None:
            if text:
                self.post_message(RunRequested(None, row.preset, resume=row.path, epochs=int(text)))

        default = str(max(row.epochs_planned or 0, row.epochs_done + 1))
        self.app.push_screen(AskModal(f"Resume {row.name} from last.pt.\nTotal epochs for the run:", default, check),
                             answered)

    def action_delete(self) -> None:
        chosen = self.table.selected_rows() or ([self.current] if self.current is not None else [])
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
        self.action_refresh()

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
