"""TensorBoard scalars of a run, for `run.tensorboard = true`: `tensorboard --logdir RUN/tensorboard`
(or a whole runs folder, one run each).

The trainer hands every engine event to a TensorBoardWriter, as it does to its other listeners.
Epoch scalars (epoch/*) use the epoch as their step; batch scalars (batch/*) a global step,
(epoch - 1) * steps_per_epoch + step, so a resumed run continues both curves where they stopped.
This module is imported only by runs that ask for it, and imports tensorboard only when built.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..events import BatchProgress, EpochEnded, Event, RunFailed, RunFinished, RunStarted

FOLDER = "tensorboard"
MISSING = "run.tensorboard = true needs the tensorboard package: pip install 'tui-trainer[tensorboard]'"


class TensorBoardWriter:
    """A callable taking engine events; writes under RUN/tensorboard/, flushed every epoch and
    closed when the run finishes or fails."""

    def __init__(self, run_dir: Path | str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's module raises it when the tensorboard package is missing
            raise ValueError(MISSING) from None
        self.log_dir = Path(run_dir) / FOLDER
        # flush_secs: batch scalars reach the file within a few seconds for a live `tensorboard`,
        # besides the flush at every epoch's end.
        self.writer = SummaryWriter(log_dir=str(self.log_dir), flush_secs=10)
        self.closed = False

    def __call__(self, event: Event) -> None:
        if self.closed:
            return
        w = self.writer
        if isinstance(event, BatchProgress):
            step = (event.epoch - 1) * event.steps_per_epoch + event.step
            w.add_scalar("batch/loss", event.loss, step)
            w.add_scalar("batch/lr", event.lr, step)
            w.add_scalar("batch/images_per_s", event.images_per_s, step)
            if event.train_acc is not None:
                w.add_scalar("batch/train_acc", event.train_acc, step)
        elif isinstance(event, EpochEnded):
            e = event.epoch
            w.add_scalar("epoch/train_loss", event.train_loss, e)
            w.add_scalar("epoch/train_acc", event.train_acc, e)
            if event.test_acc is not None:  # None on epochs that run.eval_every skips
                w.add_scalar("epoch/test_acc", event.test_acc, e)
            if event.test_loss is not None:
                w.add_scalar("epoch/test_loss", event.test_loss, e)
            w.add_scalar("epoch/lr", event.lr, e)
            w.add_scalar("epoch/images_per_s", event.images_per_s, e)
            w.add_scalar("epoch/seconds", event.seconds, e)
            w.flush()
        elif isinstance(event, RunStarted):
            config = json.dumps(event.config, indent=2)
            w.add_text("run/config", f"```\n{config}\n```", event.start_epoch)
            w.add_text("run/device", f"{event.device}, {event.parameters:,} parameters, data {event.data}",
                       event.start_epoch)
        elif isinstance(event, RunFinished):
            if event.final_acc is not None:
                w.add_scalar("run/final_acc", event.final_acc, event.epochs)
            if event.best_acc is not None:
                w.add_scalar("run/best_acc", event.best_acc, event.epochs)
            self.close()
        elif isinstance(event, RunFailed):
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()
