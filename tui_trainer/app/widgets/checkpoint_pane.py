"""The Runs screen's right pane: the highlighted run's checkpoints, and the evaluation of one of
them (accuracy, confusion matrix, per-class report) or a file predicted with it. It owns the
workers that read the checkpoints, evaluate and predict (torch, off the UI thread); what the rest
of the screen shows of an evaluation (its progress row, the worst mistakes) it says in messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from ...text import shown
from ...workspace import folder
from ...workspace.listing import CheckpointInfo, RunRow
from ..dialogs import AskModal, InfoModal
from .checkpoint_table import CheckpointTable
from .eval_panel import EvalPanel
from .look import DrillModal, DrillRequested, Evaluated
from .prediction import PredictionView

WORST = 12  # mistakes shown as thumbnails
PREDICT_TOP = 5  # classes shown for a predicted file


@dataclass
class CheckpointsListed(Message):
    run_dir: Path
    infos: list[CheckpointInfo]


@dataclass
class EvalStarted(Message):
    path: Path


@dataclass
class EvalProgress(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgress)


@dataclass
class EvalDone(Message):
    """An EvalResult, with the worst mistakes' test images (3, H, W uint8 arrays) for thumbnails,
    and the test split's images (a uint8 tensor) a drill into the result shows."""
    path: Path
    result: Any
    images: list[Any] = field(default_factory=list)
    test_images: Any = None


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
class ReportWritten(Message):
    run_dir: Path
    path: Path | None = None
    error: str | None = None


class CheckpointPane(Vertical):
    class Changed(Message):
        """The checkpoints shown changed: what the screen's keys can do changed with them."""

    def __init__(self, data: str, device: str, get_dataset: Callable[[str, Any], Any], *,
                 id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.data, self.device, self.get_dataset = data, device, get_dataset
        self.run: RunRow | None = None
        self.last_result = None  # the EvalResult shown, for tests and the palette
        self.last_result_path: Path | None = None
        self._cache: dict = {}
        self._predict_path = ""  # the last image path asked for, offered again
        self._evaluated: Evaluated | None = None  # what a drill into the shown evaluation reads

    def compose(self) -> ComposeResult:
        yield Static("Checkpoints", classes="pane-title", id="ckpt-title")
        yield CheckpointTable(id="ckpts")
        yield EvalPanel(id="eval-pane")

    @property
    def table(self) -> CheckpointTable:
        return self.query_one(CheckpointTable)

    def selected(self) -> CheckpointInfo | None:
        return self.table.selected()

    # --- the run's checkpoints -------------------------------------------------------------------

    def show_run(self, row: RunRow | None) -> None:
        changed = (row is None) != (self.run is None) or (row is not None and row.path != self.run.path)
        self.run = row
        if row is None:
            self.query_one("#ckpt-title", Static).update("Checkpoints")
            self.table.show([])
            return
        self.query_one("#ckpt-title", Static).update(Text.assemble("Checkpoints of ", (shown(row.name), "bold")))
        if changed:  # also for the same run its checkpoints may have changed: they are read below
            self.table.show(None)
        # After the table is drawn: the first peek imports torch, whose import in a worker holds the
        # GIL long enough to delay the table's first frame by seconds.
        self.call_after_refresh(self.list_checkpoints, row.path, list(row.checkpoints))

    @work(thread=True, group="ckpt-list", exclusive=True, exit_on_error=False)
    def list_checkpoints(self, run_dir: Path, paths: list[Path]) -> None:
        from ...training.checkpoints import describe  # torch: imported off the UI thread

        infos = [describe(p, self._cache) for p in paths]
        if not get_current_worker().is_cancelled:
            self.post_message(CheckpointsListed(run_dir, infos))

    def on_checkpoints_listed(self, message: CheckpointsListed) -> None:
        message.stop()
        if self.run is not None and message.run_dir == self.run.path:
            self.table.show(message.infos)
            self.explain_checkpoint()
            self.post_message(self.Changed())

    @on(CheckpointTable.RowHighlighted, "#ckpts")
    def checkpoint_highlighted(self) -> None:
        self.explain_checkpoint()

    @on(CheckpointTable.RowSelected, "#ckpts")
    def checkpoint_chosen(self) -> None:
        self.evaluate()

    def explain_checkpoint(self) -> None:
        """Say why the highlighted checkpoint cannot be read, unless a result is shown for it."""
        info = self.selected()
        if info is not None and info.error and self.last_result_path != info.path:
            self.query_one(EvalPanel).show_problem(info.path.name, f"unreadable: {info.error}")

    # --- evaluation ------------------------------------------------------------------------------

    def evaluate(self) -> None:
        info = self.selected()
        if info is None:
            self.notify("This run has no checkpoint yet", severity="warning")
            return
        self.last_result = None
        self.post_message(EvalStarted(info.path))
        self.run_evaluation(info.path)

    @work(thread=True, group="eval", exclusive=True, exit_on_error=False)
    def run_evaluation(self, path: Path) -> None:
        from ...data import DataError
        from ...training.checkpoints import CheckpointError
        from ...training.evaluate import evaluate_checkpoint

        worker = get_current_worker()
        try:
            # Each run is evaluated on the data it was trained on, not necessarily the app's --data.
            recorded = folder.run_data(path.parent.parent)
            source = recorded.source or self.data
            # A checkpoint outside a readable run folder gets the auto data settings (None).
            dataset = self.get_dataset(source, recorded.settings)
            result = evaluate_checkpoint(path, source, self.device, tta=False, worst=WORST, dataset=dataset,
                                         progress=lambda done, total: self.post_message(EvalProgress(done, total)),
                                         calibration=True)
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
            self.post_message(EvalDone(path, result, images, dataset.test_x))

    def on_eval_failed(self, message: EvalFailed) -> None:
        prefix = f"{message.path}: "
        reason = message.message[len(prefix):] if message.message.startswith(prefix) else message.message
        self.query_one(EvalPanel).show_problem(message.path.name, reason)
        self.notify(reason, title=f"Cannot evaluate {message.path.name}", severity="error")
        if message.unreadable:
            self.table.mark_unreadable(message.path, reason)

    def on_eval_done(self, message: EvalDone) -> None:
        self.last_result, self.last_result_path = message.result, message.path
        r, test = message.result, message.test_images
        self._evaluated = Evaluated(message.path, r.classes, r.labels, r.predicted, r.confidence,
                                    lambda i: test[i].cpu().numpy())
        self.query_one(EvalPanel).show_result(message.path, message.result)

    def on_drill_requested(self, message: DrillRequested) -> None:
        message.stop()
        if self._evaluated is not None:
            self.app.push_screen(DrillModal(self._evaluated, message))

    # --- a report of the run ----------------------------------------------------------------------

    def report(self) -> None:
        if self.run is None:
            self.notify("No run highlighted", severity="warning")
            return
        self.notify(f"Writing the report of {self.run.name} (an evaluation, then the figures)…",
                    title="Report", markup=False)
        self.write_report(self.run.path)

    @work(thread=True, group="report", exclusive=True, exit_on_error=False)
    def write_report(self, run_dir: Path) -> None:
        from ...data import DataError
        from ...report.page import ReportError, write_report
        from ...training.checkpoints import CheckpointError

        try:
            out = write_report(run_dir, data=folder.run_data(run_dir).source or self.data, device=self.device,
                               get_dataset=self.get_dataset)
        except (ReportError, CheckpointError, DataError, OSError) as e:
            self.post_message(ReportWritten(run_dir, error=str(e)))
            return
        except Exception as e:  # noqa: BLE001 - a bug: show it, keep the app
            self.post_message(ReportWritten(run_dir, error=f"unexpected {type(e).__name__}: {e}"))
            return
        self.post_message(ReportWritten(run_dir, out))

    def on_report_written(self, message: ReportWritten) -> None:
        message.stop()
        if message.error is not None:
            self.notify(message.error, title=f"No report of {message.run_dir.name}", severity="error")
        else:
            self.notify(f"{message.path}: open it in a browser (self-contained, no network)",
                        title="Report written", timeout=15)

    # --- prediction of a file --------------------------------------------------------------------

    def predict(self) -> None:
        info = self.selected()
        if info is None:
            self.notify("This run has no checkpoint to predict with", severity="warning")
            return
        checkpoint = info.path

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
            result = predict_images(checkpoint, [image], self.device, top=PREDICT_TOP, keep_pixels=True)
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
        message.stop()
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
