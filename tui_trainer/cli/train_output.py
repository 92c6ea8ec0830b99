"""How `tui-trainer train` shows a run: a rich progress bar on a terminal, one plain line per
epoch in a pipe or a log file, or JSON lines with --json. Each reporter is the trainer's sink."""
from __future__ import annotations

import json
import sys

from rich.markup import escape

from ..data.split import describe as describe_split
from ..events import (
    BatchProgress,
    BudgetPlanned,
    DataProgress,
    EpochEnded,
    Event,
    Notice,
    RunFailed,
    RunFinished,
    RunPaused,
    RunStarted,
)
from ..text import shown


def make_reporter(as_json: bool) -> "Reporter":
    if as_json:
        return JsonReporter()
    if sys.stdout.isatty():
        return RichReporter()
    return PlainReporter()


def epoch_line(e: EpochEnded, total: int) -> str:
    test = f"test {e.test_acc:6.2%} loss {e.test_loss:.4f}" if e.test_acc is not None else "test    -"
    if e.val_acc is not None:
        test = f"val {e.val_acc:6.2%} loss {e.val_loss:.4f}  {test}"
    return (f"epoch {e.epoch:>3}/{total}  train {e.train_acc:6.2%} loss {e.train_loss:.4f}  {test}  "
            f"lr {e.lr:.3g}  {e.seconds:5.1f}s  {e.images_per_s:,.0f} img/s{'  best' if e.is_best else ''}")


def started_line(e: RunStarted) -> str:
    resumed = f", resuming after epoch {e.start_epoch}" if e.start_epoch else ""
    return (f"run {e.run_dir}: {e.config['model']['name']} ({e.parameters:,} parameters) on {e.device}, "
            f"{e.steps_per_epoch} steps an epoch{resumed}; data: {e.data or '?'}; {describe_split(e.validation)}")


def finish_lines(f: RunFinished) -> list[str]:
    best = f"best {f.best_acc:.2%} at epoch {f.best_epoch}" if f.best_acc is not None else "no best checkpoint"
    if f.best_val_acc is not None:  # validation chose that epoch; the test figure there only reports
        best = (f"best validation {f.best_val_acc:.2%} at epoch {f.best_epoch} (test there {f.best_acc:.2%})"
                if f.best_acc is not None else f"best validation {f.best_val_acc:.2%} at epoch {f.best_epoch}")
    ended = f.ended or ("stopped" if f.stopped else "finished")
    lines = [f"{ended} after {f.epochs} epochs in {f.seconds:.1f}s: {best}" if not f.ended
             else f"{ended}, {f.epochs} epochs in {f.seconds:.1f}s"]
    if f.final_acc is not None and not f.stopped:
        held = f" (validation {f.val_acc:.2%})" if f.val_acc is not None else ""
        lines.append(f"final test accuracy {f.final_acc:.2%}{held}")
    lines.append(f"run folder: {f.run_dir}")
    if f.stopped:
        lines.append(f"resume with: tui-trainer train --resume {f.run_dir}")
    return lines


class Reporter:
    """Base: tracks the planned epoch count; subclasses print."""

    epochs = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.epochs = event.config["run"]["epochs"]
        handler = getattr(self, "on_" + type(event).__name__, None)
        if handler:
            handler(event)

    def note(self, text: str) -> None:
        print(shown(text), file=sys.stderr, flush=True)

    def exit_code(self, result: RunFinished | RunFailed) -> int:
        if isinstance(result, RunFailed):
            return 1
        return 130 if result.stopped else 0

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        return None


class PlainReporter(Reporter):
    def on_RunStarted(self, e: RunStarted) -> None:
        print(shown(started_line(e)), flush=True)

    def on_EpochEnded(self, e: EpochEnded) -> None:
        print(epoch_line(e, self.epochs), flush=True)

    def on_DataProgress(self, e: DataProgress) -> None:
        if e.done == 0:
            self.note(f"decoding {e.total:,} images (once: later runs read the cache) ...")
        elif e.done == e.total:
            self.note(f"decoded {e.total:,} images")

    def on_RunPaused(self, e: RunPaused) -> None:
        self.note("paused" if e.paused else "resumed")

    def on_Notice(self, e: Notice) -> None:
        self.note(e.text)

    def on_BudgetPlanned(self, e: BudgetPlanned) -> None:
        print(shown(e.text), flush=True)

    def on_RunFinished(self, e: RunFinished) -> None:
        for line in finish_lines(e):
            print(shown(line), flush=True)

    def on_RunFailed(self, e: RunFailed) -> None:
        print(shown(f"tui-trainer train: {e.message}"), file=sys.stderr, flush=True)


class RichReporter(PlainReporter):
    """A live bar for the current epoch; finished epochs print above it."""

    def __enter__(self) -> "RichReporter":
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console()
        self.progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.3g}  "
                                            "{task.fields[speed]:,.0f} img/s"),
                                 TimeRemainingColumn(), console=self.console, transient=True)
        self.progress.start()
        self.task = None
        self.decoding = None
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.console.print(escape(shown(text)))

    def on_BudgetPlanned(self, e: BudgetPlanned) -> None:
        self.console.print(escape(shown(e.text)))

    def on_RunStarted(self, e: RunStarted) -> None:
        self.task = self.progress.add_task("train", total=e.steps_per_epoch, epoch=f"{e.start_epoch + 1}/{self.epochs}",
                                           loss=0.0, lr=0.0, speed=0.0)
        self.console.print(escape(shown(started_line(e))))

    def on_DataProgress(self, e: DataProgress) -> None:
        if self.decoding is None:
            self.decoding = self.progress.add_task("decode", total=e.total, epoch="data", loss=0.0, lr=0.0, speed=0.0)
        self.progress.update(self.decoding, completed=e.done)
        if e.done == e.total:
            self.progress.remove_task(self.decoding)

    def on_BatchProgress(self, e: BatchProgress) -> None:
        self.progress.update(self.task, completed=e.step, epoch=f"{e.epoch}/{self.epochs}", loss=e.loss, lr=e.lr,
                             speed=e.images_per_s)

    def on_EpochEnded(self, e: EpochEnded) -> None:
        self.console.print(escape(epoch_line(e, self.epochs)))
        self.progress.reset(self.task, epoch=f"{e.epoch + 1}/{self.epochs}")

    def on_RunFinished(self, e: RunFinished) -> None:
        self.progress.stop()
        for line in finish_lines(e):
            self.console.print(escape(shown(line)))

    def on_RunFailed(self, e: RunFailed) -> None:
        self.progress.stop()
        self.console.print(f"[red]tui-trainer train: {escape(shown(e.message))}[/]")


class JsonReporter(Reporter):
    """A budget run's plan, one object per epoch, then a summary; accuracies are fractions in [0, 1].
    Stdout holds only JSON objects: words go to stderr."""

    def on_Notice(self, e: Notice) -> None:
        self.note(e.text)

    def on_BudgetPlanned(self, e: BudgetPlanned) -> None:
        print(json.dumps(e.plan), flush=True)

    def on_EpochEnded(self, e: EpochEnded) -> None:
        print(json.dumps({"event": "epoch", **vars(e)}), flush=True)

    def on_RunFinished(self, e: RunFinished) -> None:
        print(json.dumps({"event": "finished", "run_dir": e.run_dir, "best_acc": e.best_acc, "best_epoch": e.best_epoch,
                          "best_val_acc": e.best_val_acc,
                          "best_val_epoch": e.best_epoch if e.best_val_acc is not None else None,
                          "val_acc": e.val_acc, "epochs": e.epochs, "seconds": e.seconds, "final_acc": e.final_acc,
                          "stopped": e.stopped, "state": e.state or ("stopped" if e.stopped else "finished"),
                          "message": e.ended}), flush=True)

    def on_RunFailed(self, e: RunFailed) -> None:
        print(json.dumps({"event": "failed", "error": e.message, "run_dir": e.run_dir}), flush=True)
        print(shown(f"tui-trainer train: {e.message}"), file=sys.stderr, flush=True)
