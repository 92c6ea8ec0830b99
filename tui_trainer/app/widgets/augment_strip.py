"""A few training images as the augmentation settings make them, beside the Setup LR plot."""
from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Static

from .thumbnails import Thumbnail


class AugmentStrip(Horizontal):
    DEFAULT_CSS = """
    AugmentStrip { width: auto; height: auto; padding: 0 1; }
    AugmentStrip .strip-note { width: 16; color: $text-muted; }
    """

    def on_mount(self) -> None:
        self.mount(Static("augmented\nexamples\nappear here", classes="strip-note"))

    def show(self, images: list) -> None:  # noqa: ANN001 - data.preview.PreviewImage
        self.remove_children()
        self.mount_all([Thumbnail(p.image, p.caption, p.detail, tooltip=f"{p.caption} {p.detail}".strip())
                        for p in images])

    def show_problem(self, text: str) -> None:
        self.remove_children()
        self.mount(Static(text, classes="strip-note"))
