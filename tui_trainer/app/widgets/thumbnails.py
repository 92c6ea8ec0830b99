"""A thumbnail: an image (picture.py draws it) and a line or two of caption under it. Focusable:
enter asks for the image at full size (Chosen), with what the model made of it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from ...text import shown
from .picture import picture


class Thumbnail(Vertical, can_focus=True):
    BINDINGS = [Binding("enter", "choose", "Look", show=False, tooltip="The image at full size, and where the model looked")]

    @dataclass
    class Chosen(Message):
        thumbnail: Thumbnail

    def __init__(self, image: np.ndarray, caption: str, detail: str = "", classes: str | None = None,
                 tooltip: str | None = None, index: int | None = None) -> None:
        super().__init__(classes=("thumbnail " + (classes or "")).strip())
        if tooltip:
            self.tooltip = Text(shown(tooltip))  # a str tooltip is read as markup: a class named [/] breaks it
        self.image = image
        self.caption = shown(caption)  # class names, from a checkpoint or a data folder
        self.detail = shown(detail)
        self.index = index  # the test-split image it is, when it is one

    def compose(self) -> ComposeResult:
        yield picture(self.image, classes="thumb-image")
        yield Static(self.caption, classes="thumb-caption", markup=False)
        if self.detail:
            yield Static(self.detail, classes="thumb-detail", markup=False)

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self))

    def on_click(self) -> None:
        self.focus()
