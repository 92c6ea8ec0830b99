"""Checkpoints: runs and their checkpoints, evaluation with the worst mistakes as thumbnails,
curves of two runs overlaid, resume from last.pt, delete, attach to a run another process trains."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static
from textual.worker import get_current_worker

from ...config import ConfigError, check_field
from ...training import runs as run_dirs
from ...training.events import CheckpointSaved, Event, RunFailed, RunFinished, RunStarted
from ..messages import CheckpointRow, CheckpointsListed, CurvesLoaded, EvalDone, EvalFailed, EvalProgress, RunsListed
from ..widgets.confusion import ConfusionView
from ..widgets.curves import CurvesPlot
from ..widgets.thumbnails import Thumbnail
from .modals import AskModal, ConfirmModal

WORST = 12  # mistakes shown as thumbnails
AUTO_REFRESH_S = 5.0


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 100 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def short_reason(path: Path, message: str) -> str:
    """The CheckpointError message without the path it starts with (the row names the file)."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def read_checkpoint_rows(paths: list[Path], cache: dict | None = None) -> list[CheckpointRow]:
    """Size, epoch and score of each checkpoint, or why it cannot be read (worker thread).
    `cache` keeps rows by (path, mtime, size): a file that did not change is not loaded again."""
    from ...training.checkpoints import CheckpointError, load

    rows = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        key = (path, stat.st_mtime_ns, stat.st_size)
        if cache is not None and key in cache:
            rows.append(cache[key])
            continue
        row = CheckpointRow(path, stat.st_size)
        try:
            payload = load(path)
            row.epoch = int(payload["epoch"])
            row.step = int(payload.get("step") or 0)
            metrics = payload.get("metrics") or {}
            row.test_acc = metrics.get("test_acc") if isinstance(metrics, dict) else None
        except CheckpointError as e:
            row.error = short_reason(path, str(e))
        except Exception as e:  # noqa: BLE001 - a strange file must mark its row, never crash the screen
            row.error = f"{type(e).__name__}: {e}"
        if cache is not None:
            cache[key] = row
        rows.append(row)
    return rows


class CheckpointsScreen(Screen):
    AUTO_FOCUS = "#runs"
    BINDINGS = [
        Binding("e", "evaluate", "Eval", tooltip="Evaluate the selected checkpoint on the test split (or enter)"),
        Binding("r", "resume", "Resume", tooltip="Continue the selected run from its last.pt"),
        Binding("d", "delete", "Delete", tooltip="Delete the selected run folder, after a confirmation"),
        Binding("o", "overlay", "Compare", tooltip="Mark the selected run: its test accuracy is overlaid on others'"),
        Binding("a", "attach", "Attach", tooltip="Watch the run another tui-trainer process trains"),
        Binding("f5", "refresh", "Refresh", priority=True, tooltip="List the runs again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="checkpoints")
        self.runs: list[run_dirs.RunInfo] = []
        self.selected: run_dirs.RunInfo | None = None
        self.marked: Path | None = None
        self.ckpt_rows: list[CheckpointRow] = []
        self.unreadable: dict[Path, str] = {}
        self.last_result = None  # the EvalResult shown, for tests and the palette
        self.last_result_path: Path | None = None
        self._listing_sig: tuple | None = None
        self._ckpt_cache: dict = {}
        self._dirty = True

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="ck-body", can_focus=False):
            with Vertical(id="runs-pane"):
                yield Static("Runs", classes="pane-title", id="runs-title")
                yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="eval-row"):
                yield Static("", id="eval-label")
                yield ProgressBar(total=1, show_eta=False, id="eval-progress")
            with Horizontal(id="ck-middle"):
                with Vertical(id="ck-left"):
                    yield Static("Checkpoints", classes="pane-title", id="ckpt-title")
                    yield DataTable(id="ckpts", cursor_type="row")
                    yield CurvesPlot(id="curves")
                with VerticalScroll(id="eval-pane"):
                    yield Static("Select a checkpoint and press e (or enter) to evaluate it on the test split.",
                                 id="eval-headline")
                    yield ConfusionView("", id="confusion")
            yield HorizontalScroll(Static("Worst mistakes appear here after an evaluation.", classes="dim-note"),
                                   id="mistakes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Checkpoints"
        self.query_one("#runs", DataTable).add_columns(" ", "run", "preset", "date", "epochs", "best", "state")
        ckpts = self.query_one("#ckpts", DataTable)
        for label, width in (("file", 7), ("epoch", 6), ("test acc", 8), ("size", 7), ("status", 12)):
            ckpts.add_column(label, width=width)
        self.app.session_signal.subscribe(self, self.on_session_event)
        self.set_interval(AUTO_REFRESH_S, self.auto_refresh)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self._dirty:
            self.action_refresh()

    def on_session_event(self, event: Event | None) -> None:
        if isinstance(event, (RunStarted, CheckpointSaved, RunFinished, RunFailed)) or event is None:
            self._dirty = True
            if self.app.screen is self:
                self.action_refresh()

    def auto_refresh(self) -> None:
        if self.app.screen is self:
            self.action_refresh()

    # --- listing -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._dirty = False
        self.list_runs()

    @work(thread=True, group="runs-list", exclusive=True, exit_on_error=False)
    def list_runs(self) -> None:
        found = run_dirs.list_runs(self.app.runs)
        if not get_current_worker().is_cancelled:
            self.post_message(RunsListed(found))

    def on_runs_listed(self, message: RunsListed) -> None:
        self.runs = message.runs
        sig = tuple((r.name, r.epochs_done, r.best_acc, r.live, tuple(r.checkpoints), r.epochs_planned)
                    for r in self.runs) + (self.marked,)
        table = self.query_one("#runs", DataTable)
        title = self.query_one("#runs-title", Static)
        title.update(f"Runs in {self.app.runs} [dim]{len(self.runs)}, newest first; ◆ marks the run to compare[/]")
        if sig == self._listing_sig:
            return
        self._listing_sig = sig
        keep = self.selected.path if self.selected else None
        table.clear()
        session = self.app.session
        for info in self.runs:
            mark = Text("◆", style="magenta") if self.marked == info.path else Text(" ")
            date = info.started.strftime("%Y-%m-%d %H:%M") if info.started else "-"
            planned = f"/{info.epochs_planned}" if info.epochs_planned else ""
            best = "-" if info.best_acc is None else f"{info.best_acc:.2%}"
            if info.live:
                here = session is not None and session.live and session.run_dir == info.path
                doing = "paused" if here and session.paused else "training"
                state = Text(f"● {doing}" + (" here" if here else ""), style="bold green")
            else:
                state = Text("")
            table.add_row(mark, info.name, info.preset, date, f"{info.epochs_done}{planned}", best, state,
                          key=str(info.path))
        if not self.runs:
            self.selected = None
            self.show_checkpoints(None, [])
            self.query_one(CurvesPlot).set_runs("", [])
            self.refresh_bindings()
            return
        paths = [r.path for r in self.runs]
        row = paths.index(keep) if keep in paths else 0
        table.move_cursor(row=row, animate=False)
        self.select_run(self.runs[row], force=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "ckpts":
            self.explain_checkpoint()
        if event.data_table.id == "runs":
            key = event.row_key.value
            info = next((r for r in self.runs if str(r.path) == key), None)
            if info is not None:
                self.select_run(info)
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_evaluate()

    def select_run(self, info: run_dirs.RunInfo, force: bool = False) -> None:
        changed = self.selected is None or self.selected.path != info.path
        self.selected = info
        if changed or force:
            if changed:
                self.show_checkpoints(info.path, None)
            self.load_run_details(info.path, list(info.checkpoints), self.marked)
        self.refresh_bindings()

    @work(thread=True, group="run-details", exclusive=True, exit_on_error=False)
    def load_run_details(self, run_dir: Path, paths: list[Path], marked: Path | None) -> None:
        epochs = run_dirs.read_metrics(run_dir)
        other = run_dirs.read_metrics(marked) if marked and marked != run_dir else []
        self.post_message(CurvesLoaded(run_dir, epochs, marked if other else None, other))
        rows = read_checkpoint_rows(paths, self._ckpt_cache)
        if not get_current_worker().is_cancelled:
            self.post_message(CheckpointsListed(run_dir, rows))

    def on_curves_loaded(self, message: CurvesLoaded) -> None:
        if self.selected is None or message.run_dir != self.selected.path:
            return
        self.query_one(CurvesPlot).set_runs(message.run_dir.name, message.epochs,
                                            message.other_dir.name if message.other_dir else "", message.other)

    def on_checkpoints_listed(self, message: CheckpointsListed) -> None:
        if self.selected is None or message.run_dir != self.selected.path:
            return
        self.show_checkpoints(message.run_dir, message.rows)

    def show_checkpoints(self, run_dir: Path | None, rows: list[CheckpointRow] | None) -> None:
        table = self.query_one("#ckpts", DataTable)
        title = self.query_one("#ckpt-title", Static)
        keep = self.selected_checkpoint()
        table.clear()
        self.ckpt_rows = rows or []
        if run_dir is None:
            title.update("Checkpoints")
            return
        title.update(f"Checkpoints of [b]{run_dir.name}[/]")
        if rows is None:
            table.add_row("reading ...", "", "", "", "")
            return
        if not rows:
            table.add_row(Text("none yet", style="dim"), "", "", "", "")
        for row in rows:
            error = row.error or self.unreadable.get(row.path)
            status = Text(f"unreadable: {error}", style="red") if error else Text("ok", style="green")
            epoch = "-" if row.epoch is None else str(row.epoch) + (f"+{row.step}st" if row.step else "")
            table.add_row(row.path.name, epoch,
                          "-" if row.test_acc is None else f"{row.test_acc:.2%}", human_size(row.size), status,
                          key=str(row.path))
        names = [r.path for r in rows]
        if keep in names:
            table.move_cursor(row=names.index(keep), animate=False)
        else:
            best = [i for i, r in enumerate(rows) if r.path.name == "best.pt"]
            table.move_cursor(row=best[0] if best else 0, animate=False)
        self.explain_checkpoint()
        self.refresh_bindings()

    def explain_checkpoint(self) -> None:
        """Say why the highlighted checkpoint cannot be read, unless a result is shown for it."""
        path = self.selected_checkpoint()
        row = next((r for r in self.ckpt_rows if r.path == path), None)
        error = row and (row.error or self.unreadable.get(row.path))
        if error and self.last_result_path != path:
            self.query_one("#eval-headline", Static).update(
                Text.assemble((f"{path.name}", "bold"), (f" is unreadable: {error}", "red")))

    def selected_checkpoint(self) -> Path | None:
        table = self.query_one("#ckpts", DataTable)
        if not self.ckpt_rows or table.cursor_row is None or not (0 <= table.cursor_row < len(self.ckpt_rows)):
            return None
        return self.ckpt_rows[table.cursor_row].path

    def checkpoint_status(self, name: str) -> str:
        """The status cell of checkpoint `name` of the selected run (tests read it)."""
        for i, row in enumerate(self.ckpt_rows):
            if row.path.name == name:
                return str(self.query_one("#ckpts", DataTable).get_row_at(i)[4])
        return ""

    # --- evaluation ----------------------------------------------------------------------------

    def action_evaluate(self) -> None:
        path = self.selected_checkpoint()
        if path is None:
            self.notify("This run has no checkpoint yet", severity="warning")
            return
        self.last_result = None
        self.set_class(True, "-evaluating")
        self.query_one("#eval-progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#eval-label", Static).update(
            Text.assemble(("evaluating ", "dim"), (f"{path.parent.parent.name}/{path.name}", "bold"), " ..."))
        self.evaluate(path)

    @work(thread=True, group="eval", exclusive=True, exit_on_error=False)
    def evaluate(self, path: Path) -> None:
        from ...data import DataError
        from ...training.checkpoints import CheckpointError
        from ...training.evaluate import evaluate_checkpoint
        from ...training.summary import recorded_data

        worker = get_current_worker()
        try:
            # Each run is evaluated on the data it was trained on, not necessarily the app's --data.
            source = recorded_data(path.parent.parent) or self.app.data
            dataset = self.app.get_dataset(source)
            result = evaluate_checkpoint(path, source, self.app.device, tta=False, worst=WORST,
                                         dataset=dataset,
                                         progress=lambda done, total: self.post_message(EvalProgress(done, total)))
            images = [dataset.test_x[m.index].cpu().numpy() for m in result.worst]
        except (CheckpointError, DataError, ValueError) as e:
            self.post_message(EvalFailed(path, str(e)))
            return
        except Exception as e:  # noqa: BLE001 - a bug: show it, keep the app
            self.post_message(EvalFailed(path, f"unexpected {type(e).__name__}: {e}"))
            return
        if not worker.is_cancelled:
            self.post_message(EvalDone(path, result, images))

    def on_eval_progress(self, message: EvalProgress) -> None:
        self.query_one("#eval-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_eval_failed(self, message: EvalFailed) -> None:
        self.set_class(False, "-evaluating")
        reason = short_reason(message.path, message.message)
        self.query_one("#eval-label", Static).update("")
        self.query_one("#eval-headline", Static).update(
            Text.assemble((f"{message.path.name}: ", "bold"), (reason, "red")))
        self.query_one(ConfusionView).clear()
        self.notify(reason, title=f"Cannot evaluate {message.path.name}", severity="error")
        if "checkpoint" in message.message or "refused" in message.message:
            self.unreadable[message.path] = reason
            if self.selected is not None and message.path.parent.parent == self.selected.path:
                self.show_checkpoints(self.selected.path, self.ckpt_rows)

    def on_eval_done(self, message: EvalDone) -> None:
        self.set_class(False, "-evaluating")
        result = message.result
        self.last_result, self.last_result_path = result, message.path
        self.query_one("#eval-label", Static).update("")
        run = message.path.parent.parent.name
        self.query_one("#eval-headline", Static).update(Text.assemble(
            (f"{run}/{message.path.name}", "bold"), "  accuracy ", (f"{result.accuracy:.2%}", "bold green"),
            f" on {result.n:,} test images  loss {result.loss:.4f}"))
        self.query_one(ConfusionView).show(result.classes, result.confusion, result.per_class)
        strip = self.query_one("#mistakes", HorizontalScroll)
        strip.remove_children()
        thumbs = []
        for mistake, image in zip(result.worst, message.images):
            true, pred = result.classes[mistake.true], result.classes[mistake.predicted]
            detail = f"→ {pred} {mistake.confidence:.0%}"
            if len(detail) > 16:
                detail = f"→ {pred[:16 - 3 - len(f'{mistake.confidence:.0%}')]}… {mistake.confidence:.0%}"
            thumbs.append(Thumbnail(image, true, detail, tooltip=f"test image #{mistake.index}: {true}, "
                                    f"predicted {pred} with {mistake.confidence:.1%} confidence"))
        if thumbs:
            strip.mount_all([Static("worst\nmistakes\n\ntrue\n→ predicted\nconfidence", classes="dim-note thumb-legend"),
                             *thumbs])
        else:
            strip.mount(Static("No mistakes to show.", classes="dim-note"))

    # --- run actions ---------------------------------------------------------------------------

    def _is_live(self, info: run_dirs.RunInfo) -> bool:
        return run_dirs.live_pid(info.path) is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        info = self.selected
        if action == "evaluate":
            return True if self.ckpt_rows else None
        if action == "resume":
            ok = info is not None and not info.live and any(p.name == "last.pt" for p in info.checkpoints)
            return True if ok else None
        if action in ("delete", "overlay"):
            return True if info is not None and (action == "overlay" or not info.live) else None
        if action == "attach":  # shown only where it applies: a run another process trains now
            return True if info is not None and info.live else False
        return True

    def action_resume(self) -> None:
        info = self.selected
        if info is None:
            return
        if not any(p.name == "last.pt" for p in info.checkpoints):
            self.notify(f"{info.name} has no last.pt to resume from", severity="warning")
            return
        if self._is_live(info):
            self.notify(f"{info.name} is training now; attach to it with a", severity="warning")
            return
        if self.app.session is not None and self.app.session.live and self.app.session.kind == "local":
            self.notify("A run is already training here; stop it first (F2, x)", severity="warning")
            return

        def check(text: str) -> str | None:
            try:
                check_field("run.epochs", text)
            except ConfigError as e:
                return str(e)
            if info.epochs_done and int(text) <= info.epochs_done:
                return f"{info.name} has done {info.epochs_done} epochs already: give a larger total"
            return None

        def answered(text: str | None) -> None:
            if text:
                self.app.start_run(None, info.preset, resume=info.path, epochs=int(text))

        default = str(max(info.epochs_planned or 0, info.epochs_done + 1))
        self.app.push_screen(AskModal(f"Resume {info.name} from last.pt.\nTotal epochs for the run:", default, check),
                             answered)

    def action_delete(self) -> None:
        info = self.selected
        if info is None:
            return
        if self._is_live(info):
            self.notify(f"{info.name} is training now; stop it before deleting it", severity="warning")
            return
        size = sum(p.stat().st_size for p in info.path.rglob("*") if p.is_file())

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_run(info.path)

        self.app.push_screen(ConfirmModal(f"Delete run {info.name}?\n\nThis removes {info.path} and its "
                                          f"checkpoints ({human_size(size)}). It cannot be undone.",
                                          yes="Delete"), answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def delete_run(self, path: Path) -> None:
        try:
            shutil.rmtree(path)
        except OSError as e:
            self.app.call_from_thread(self.notify, f"{path}: {e.strerror or e}", title="Not deleted", severity="error")
        self.app.call_from_thread(self._deleted, path)

    def _deleted(self, path: Path) -> None:
        if self.marked == path:
            self.marked = None
        if self.selected is not None and self.selected.path == path:
            self.selected = None
        self.notify(f"Deleted {path.name}")
        self.action_refresh()

    def action_overlay(self) -> None:
        info = self.selected
        if info is None:
            return
        if self.marked == info.path:
            self.marked = None
            self.notify("Comparison cleared")
        else:
            self.marked = info.path
            self.notify(f"◆ {info.name} marked: select another run to see its curves overlaid")
        self._listing_sig = None
        self.action_refresh()

    def action_attach(self) -> None:
        info = self.selected
        if info is None:
            return
        pid = run_dirs.live_pid(info.path)
        if pid is None:
            self.notify(f"{info.name} is not training now", severity="warning")
            return
        session = self.app.session
        if pid == os.getpid() or (session is not None and session.live and session.run_dir == info.path):
            self.app.switch_mode("training")
            return
        self.app.attach_run(info.path)
