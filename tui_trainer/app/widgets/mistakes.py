"""The worst mistakes of an evaluation as a strip of thumbnails: the image, its true class, and
what the model said instead with its confidence."""
from __future__ import annotations

from pathlib import Path

from textual.containers import HorizontalScroll
from textual.widgets import Static

from .look import LookModal
from .thumbnails import Thumbnail

CAPTION = 16  # a thumbnail's width in columns


class MistakesStrip(HorizontalScroll):
    DEFAULT_CSS = """
    MistakesStrip { height: 12; border-top: hkey $panel-lighten-1; scrollbar-size-horizontal: 1; }
    """

    def on_mount(self) -> None:
        self.mount(Static("Worst mistakes appear here after an evaluation.", classes="dim-note"))

    def show(self, classes: list[str], worst: list, images: list,  # noqa: ANN001 - Mistakes, arrays
             checkpoint: Path | None = None) -> None:
        self.remove_children()
        self.checkpoint, self.classes, self.worst = checkpoint, classes, {m.index: m for m in worst}
        thumbs = []
        for mistake, image in zip(worst, images):
            true, pred = classes[mistake.true], classes[mistake.predicted]
            confidence = f"{mistake.confidence:.0%}"
            detail = f"→ {pred} {confidence}"
            if len(detail) > CAPTION:
                detail = f"→ {pred[:CAPTION - 3 - len(confidence)]}… {confidence}"
            thumbs.append(Thumbnail(image, true, detail, index=mistake.index,
                                    tooltip=f"test image #{mistake.index}: {true}, "
                                    f"predicted {pred} with {mistake.confidence:.1%} confidence"))
        if thumbs:
            self.mount_all([Static("worst\nmistakes\n\ntrue\n→ predicted\nconfidence", classes="dim-note thumb-legend"),
                            *thumbs])
        else:
            self.mount(Static("No mistakes to show.", classes="dim-note"))

    def on_thumbnail_chosen(self, message: Thumbnail.Chosen) -> None:
        message.stop()
        i = message.thumbnail.index
        self.app.push_screen(LookModal(message.thumbnail.image, f"test image #{i}: {self.classes[self.worst[i].true]}",
                                       self.checkpoint, self.worst[i].true))
