"""Every message the app's workers post to the UI thread.

Workers never touch widgets: they post one of these with `post_message`, which is thread-safe
and does not wait, and the handlers run on the UI thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from ..training.events import BatchProgress, EpochEnded, Event


class EngineEvent(Message):
    """One engine event from the run session `session_id` (a trainer thread or a follower)."""

    def __init__(self, session_id: int, event: Event, prior: list[EpochEnded] | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.event = event
        # With a RunStarted of a resumed run: the epochs finished before it, from metrics.csv.
        self.prior = prior or []


class ProgressEvent(EngineEvent):
    """A BatchProgress: a newer one still queued replaces an older one, so a fast run cannot flood."""

    event: BatchProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressEvent) and message.session_id == self.session_id


def engine_message(session_id: int, event: Event, prior: list[EpochEnded] | None = None) -> EngineEvent:
    if isinstance(event, BatchProgress):
        return ProgressEvent(session_id, event)
    return EngineEvent(session_id, event, prior)


class EvalProgress(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgress)


class EvalDone(Message):
    """An EvalResult, with the worst mistakes' test images (3, H, W uint8 arrays) for thumbnails."""

    def __init__(self, path: Path, result: Any, images: list[Any] | None = None) -> None:
        super().__init__()
        self.path, self.result, self.images = path, result, images or []


class EvalFailed(Message):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__()
        self.path, self.message = path, message


class ParamCount(Message):
    """Parameter count for a model spec, or why it cannot be built."""

    def __init__(self, key: tuple, count: int | None, error: str | None = None) -> None:
        super().__init__()
        self.key, self.count, self.error = key, count, error


class DataStatus(Message):
    def __init__(self, text: str, train_size: int | None = None) -> None:
        super().__init__()
        self.text, self.train_size = text, train_size


@dataclass
class CheckpointRow:
    """What the checkpoints screen knows of one checkpoint file."""

    path: Path
    size: int
    epoch: int | None = None
    step: int = 0  # steps into the next epoch (a run stopped mid-epoch)
    test_acc: float | None = None
    error: str | None = None  # set when the file cannot be loaded


class RunsListed(Message):
    def __init__(self, runs: list[Any]) -> None:
        super().__init__()
        self.runs = runs


class CheckpointsListed(Message):
    def __init__(self, run_dir: Path, rows: list[CheckpointRow]) -> None:
        super().__init__()
        self.run_dir, self.rows = run_dir, rows


class CurvesLoaded(Message):
    def __init__(self, run_dir: Path, epochs: list[EpochEnded], other_dir: Path | None,
                 other: list[EpochEnded]) -> None:
        super().__init__()
        self.run_dir, self.epochs, self.other_dir, self.other = run_dir, epochs, other_dir, other

