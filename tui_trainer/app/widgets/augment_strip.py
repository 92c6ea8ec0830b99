"""A few training images as the augmentation settings make them, beside the Setup LR plot. It owns
the worker that draws them (torch, and a sample of the data read once)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from ...text import clip
from .look import LookModal
from .thumbnails import Thumbnail

PREVIEW_COUNT = 2  # augmented examples beside the LR plot: two leave the plot room at 120 columns


@dataclass
class AugmentPreview(Message):
    """A few augmented training images for the settings `key`, or why there are none."""
    key: tuple
    images: list
    error: str | None = None


class AugmentStrip(Horizontal):
    DEFAULT_CSS = """
    AugmentStrip { width: auto; height: auto; padding: 0 1; }
    AugmentStrip .strip-note { width: 16; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._key: tuple | None = None
        self._sample = None  # a few hundred training images, read once

    def on_mount(self) -> None:
        self.mount(Static("augmented\nexamples\nappear here", classes="strip-note"))

    def preview(self, aug: Any, seed: int, source: str, loaded: Any = None) -> None:  # noqa: ANN401 - AugmentConfig, Dataset
        """Draw `aug` (an AugmentConfig) at `seed` on images of `source` (`loaded`: its data set, when the
        app has it in memory), unless these settings are what the strip shows already."""
        key = (tuple(sorted(vars(aug).items())), seed)
        if key != self._key:
            self._key = key
            self.draw(key, aug, seed, source, loaded)

    @work(thread=True, group="augment-preview", exclusive=True, exit_on_error=False)
    def draw(self, key: tuple, aug: Any, seed: int, source: str, loaded: Any) -> None:  # noqa: ANN401
        try:
            from ...data.preview import SAMPLE, preview, sample_images  # torch: off the UI thread
            if self._sample is None:
                self._sample = ((loaded.train_x[:SAMPLE], loaded.train_y[:SAMPLE], loaded.classes)
                                if loaded is not None else sample_images(source))
            images = preview(*self._sample, aug, count=PREVIEW_COUNT, seed=seed)
        except Exception as e:  # noqa: BLE001 - missing data, a bad setting: said in the strip
            self.post_message(AugmentPreview(key, [], f"no preview: {clip(str(e), 60)}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(AugmentPreview(key, images))

    def on_augment_preview(self, message: AugmentPreview) -> None:
        message.stop()
        if message.key != self._key:
            return
        if message.error:
            self.show_problem(message.error)
        else:
            self.show(message.images)

    def show(self, images: list) -> None:  # noqa: ANN001 - data.preview.PreviewImage
        self.remove_children()
        self.mount_all([Thumbnail(p.image, p.caption, p.detail, tooltip=f"{p.caption} {p.detail}".strip())
                        for p in images])

    def show_problem(self, text: str) -> None:
        self.remove_children()
        self.mount(Static(text, classes="strip-note"))

    def on_thumbnail_chosen(self, message: Thumbnail.Chosen) -> None:
        message.stop()
        t = message.thumbnail
        self.app.push_screen(LookModal(t.image, f"{t.caption} {t.detail}".strip()))
