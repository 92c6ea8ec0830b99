"""The messages between the app and its screens: the engine's events as the app's workers post
them to the UI thread, and the intents screens post for the app to act on (a screen's or a
widget's own messages live in its module).

Workers never touch widgets: they post one of these with `post_message`, which is thread-safe
and does not wait, and the handlers run on the UI thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from ..config import Config
from ..events import BatchProgress, EpochEnded, Event


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


# --- intents: what a screen asks the app to do (the app acts, one run at a time) -----------------

@dataclass
class RunRequested(Message):
    """Train `cfg` as `preset`, or continue the run folder `resume` to `epochs` epochs in all; on
    `processes` processes (2 or more: detached work the app attaches to)."""
    cfg: Config | None
    preset: str
    resume: Path | None = None
    epochs: int | None = None
    processes: int = 1


@dataclass
class AttachRequested(Message):
    """Follow the run another process trains in `run_dir` on the Training screen."""
    run_dir: Path
