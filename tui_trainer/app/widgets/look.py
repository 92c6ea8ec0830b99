"""Looking at images: a drill into an evaluation (a confusion cell, a confused pair, a class's
misses or false alarms) as a grid of thumbnails, and one image at full size with its top-5
classes and where the model looked, Grad-CAM for the predicted and the true class side by side
(training/explain.py), computed in this screen's worker."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from ...text import shown
from .picture import picture, way
from .prediction import TopBars
from .thumbnails import Thumbnail

SHOWN = 48  # thumbnails a drill shows, most confident first: more is scrolling, not looking


@dataclass
class DrillRequested(Message):
    """Show the images of an evaluation: true class `true`, predicted `pred` (None: any), only the
    wrong ones with `wrong`; for a class (true or pred alone) the other side, its false alarms or
    misses, is a key away."""
    true: int | None
    pred: int | None
    wrong: bool = False


@dataclass
class Evaluated:
    """What a drill reads of an evaluation: its checkpoint, classes, each test image's true class,
    prediction and confidence, and the test images' pixels."""
    checkpoint: Path
    classes: list[str]
    labels: list[int]
    predicted: list[int]
    confidence: list[float]
    pixels: Callable[[int], np.ndarray]  # (3, S, S) uint8 of a test image

    def views(self, ask: DrillRequested) -> list[tuple[str, list[int]]]:
        """(title, indices) of what was asked: a cell, or a class's misses and then its false alarms."""
        from ...training.class_report import drill

        name = [shown(c) for c in self.classes]
        pick = lambda **kw: drill(self.labels, self.predicted, self.confidence, **kw)  # noqa: E731
        if ask.true is not None and ask.pred is not None:
            what = f"{name[ask.true]} predicted as {name[ask.pred]}" if ask.true != ask.pred else \
                f"{name[ask.true]}, right"
            return [(what, pick(true=ask.true, pred=ask.pred))]
        c = ask.true if ask.true is not None else ask.pred
        misses = (f"{name[c]}'s misses (true {name[c]}, predicted otherwise)", pick(true=c, wrong=True))
        alarms = (f"{name[c]}'s false alarms (predicted {name[c]}, true otherwise)", pick(pred=c, wrong=True))
        return [misses, alarms] if ask.true is not None else [alarms, misses]

    def thumbnail(self, i: int) -> Thumbnail:
        true, pred, conf = self.classes[self.labels[i]], self.classes[self.predicted[i]], self.confidence[i]
        detail = f"{'✓' if true == pred else '→ ' + pred} {conf:.0%}"
        return Thumbnail(self.pixels(i), f"#{i} {true}", detail[:16], index=i,
                         tooltip=f"test image #{i}: {true}, predicted {pred} with {conf:.1%}")


class DrillView(Static, can_focus=True):
    """An evaluation's table with a cursor, drawn in reverse while it has the focus (the
    confusion matrix, the class report): `matrix` is what it shows, `draw()` draws it."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Static's
        super().__init__(*args, **kwargs)
        self.matrix: tuple | None = None

    def draw(self) -> None:
        raise NotImplementedError

    def clear(self, message: str = "") -> None:
        self.matrix = None
        self.update(Text(message, style="dim"))

    def on_focus(self) -> None:
        self.draw()

    def on_blur(self) -> None:
        self.draw()


class DrillModal(ModalScreen[None]):
    """The images of a drill, most confident first; enter on one looks at it, v shows the other
    side of a class (its misses, its false alarms)."""

    BINDINGS = [Binding("escape,q", "close", "Close"), Binding("v", "other", "Misses / false alarms")]

    def __init__(self, evaluated: Evaluated, ask: DrillRequested) -> None:
        super().__init__(classes="modal")
        self.evaluated = evaluated
        self.views = evaluated.views(ask)
        self.view = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog look-dialog"):
            yield Label("", id="drill-title", classes="dialog-text", markup=False)
            yield VerticalScroll(Grid(id="drill-grid"), id="drill-body")
            yield Static("", id="drill-keys", classes="dim-note")

    def on_mount(self) -> None:
        self.show_view()

    def show_view(self) -> None:
        title, indices = self.views[self.view]
        grid = self.query_one("#drill-grid", Grid)
        grid.remove_children()
        more = f" (the {SHOWN} most confident shown)" if len(indices) > SHOWN else ""
        self.query_one("#drill-title", Label).update(
            f"{title}: {len(indices)} image{'s' if len(indices) != 1 else ''}, most confident first{more}")
        grid.mount_all([self.evaluated.thumbnail(i) for i in indices[:SHOWN]] or
                       [Static("No images here.", classes="dim-note")])
        other = "v: the other side of this class · " if len(self.views) > 1 else ""
        self.query_one("#drill-keys", Static).update(f"arrows or tab move · enter looks at one · {other}esc closes")
        self.call_after_refresh(lambda: self.query(Thumbnail).first().focus() if self.query(Thumbnail) else None)

    def action_other(self) -> None:
        if len(self.views) > 1:
            self.view = (self.view + 1) % len(self.views)
            self.show_view()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_thumbnail_chosen(self, message: Thumbnail.Chosen) -> None:
        message.stop()
        e, i = self.evaluated, message.thumbnail.index
        self.app.push_screen(LookModal(e.pixels(i), f"test image #{i}", e.checkpoint, e.labels[i]))

    def on_resize(self) -> None:
        # As many thumbnails a row as the dialog is wide (17 columns each).
        self.query_one("#drill-grid", Grid).styles.grid_size_columns = max(1, (self.size.width * 9 // 10 - 4) // 17)

    def key_right(self) -> None:
        self.focus_next(Thumbnail)

    def key_left(self) -> None:
        self.focus_previous(Thumbnail)

    def key_down(self) -> None:
        self._move(1)

    def key_up(self) -> None:
        self._move(-1)

    def _move(self, rows: int) -> None:
        thumbs = list(self.query(Thumbnail))
        if self.focused in thumbs:
            step = rows * int(self.query_one("#drill-grid", Grid).styles.grid_size_columns or 1)
            thumbs[max(0, min(len(thumbs) - 1, thumbs.index(self.focused) + step))].focus()


@dataclass
class Explained(Message):
    explanation: object | None  # a training.explain.Explanation
    layer: str
    classes: list[str]
    error: str | None = None


class LookModal(ModalScreen[None]):
    """One image at full size; with a checkpoint, its top-5 classes and the Grad-CAM maps of the
    predicted and the true class, overlaid on it."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, pixels: np.ndarray, title: str, checkpoint: Path | None = None, true: int | None = None) -> None:
        super().__init__(classes="modal")
        self.pixels, self.title_text, self.checkpoint, self.true = pixels, title, checkpoint, true

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog look-dialog"):
            yield Label(shown(self.title_text), classes="dialog-text", markup=False)
            with VerticalScroll(id="look-body"):
                if self.checkpoint is None:
                    yield picture(self.pixels, classes="look-map")
                else:
                    yield Vertical(Static("finding where it looked ...", classes="dim-note"), id="look-top")
            yield Static(f"drawn with {way()} · esc closes", classes="dim-note")

    def on_mount(self) -> None:
        if self.checkpoint is not None:
            self.explain()

    @work(thread=True, group="explain", exclusive=True, exit_on_error=False)
    def explain(self) -> None:
        from ...training.checkpoints import CheckpointError
        from ...training.explain import Explainer, NoLayer

        try:
            explainer = Explainer(self.checkpoint)
            (e,) = explainer.explain([self.pixels], [self.true])
        except (CheckpointError, NoLayer) as err:
            self.post_message(Explained(None, "", [], str(err)))
            return
        except Exception as err:  # noqa: BLE001 - a bug: one line, the screen stays
            self.post_message(Explained(None, "", [], f"unexpected {type(err).__name__}: {err}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(Explained(e, explainer.layer_text, explainer.classes))

    def on_explained(self, message: Explained) -> None:
        from ...training.explain import overlay

        top = self.query_one("#look-top", Vertical)
        top.remove_children()
        e = message.explanation
        if e is None:
            top.mount_all([picture(self.pixels, classes="look-map"),
                           Static(Text(f"no map: {shown(message.error)}", style="red"))])
            return
        classes = message.classes
        true = f"true: {shown(classes[e.true])}" if e.true is not None else "the image"
        cells = [Vertical(picture(self.pixels, classes="look-big"), Static(true, markup=False), classes="look-cell")]
        for c, caption in e.captions(classes).items():  # the image, then where it looked for each class
            cells.append(Vertical(picture(overlay(self.pixels, e.maps[c]), classes="look-map"),
                                  Static(shown(caption), markup=False), classes="look-cell"))
        top.mount_all([Horizontal(*cells, classes="look-row"),
                       Static(f"where it looked: Grad-CAM at {message.layer}, red most", classes="dim-note"),
                       Static("top 5", classes="look-heading"),
                       TopBars([(shown(classes[c]), p) for c, p in e.top])])

    def action_close(self) -> None:
        self.dismiss(None)
