"""The messages the app's workers post to the UI thread (a screen's own live in its module).

Workers never touch widgets: they post one of these with `post_message`, which is thread-safe
and does not wait, and the handlers run on the UI thread.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

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


@dataclass
class ParamCount(Message):
    """Parameter count for a model spec, or why it cannot be built."""
    key: tuple
    count: int | None
    error: str | None = None


@dataclass
class AugmentPreview(Message):
    """A few augmented training images for the settings `key`, or why there are none."""
    key: tuple
    images: list
    error: str | None = None


@dataclass
class ProcessChoices(Message):
    """How many training processes this machine takes: what auto means, the most, the device type."""
    auto: int
    most: int
    kind: str


@dataclass
class DataStatus(Message):
    text: str
    train_size: int | None = None
