"""The LR range test as a dialog: a progress bar while it sweeps, then the loss against LR with the
suggestion marked; `a` applies the suggestion, Escape cancels (and stops a sweep under way)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static
from textual.worker import get_current_worker

from ...config import Config, ConfigError
from ..widgets.lr_find_plot import LRFindPlot

if TYPE_CHECKING:  # the engine imports torch: only the sweep's thread loads it, not the app's start
    from ...data import Dataset
    from ...training.lr_find import LRFindResult


@dataclass
class SweepProgress(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SweepProgress)


@dataclass
class SweepDone(Message):
    result: LRFindResult


@dataclass
class SweepFailed(Message):
    message: str


def rounded(value: float) -> float:
    """Three significant digits: what the dialog shows is what it applies."""
    return float(f"{value:.3g}")


class LRFindModal(ModalScreen[dict | None]):
    """Sweep `cfg`'s LR on `data` (or an already loaded `dataset`) and offer the suggestion.

    Dismisses with {"optimizer.lr": x} (plus "optimizer.muon_lr" for muon) on apply, None on cancel."""

    BINDINGS = [Binding("a", "apply", "Apply"), Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    LRFindModal #lr-find-plot {
        height: 16;
        display: none;
    }
    LRFindModal.-done #lr-find-plot {
        display: block;
    }
    LRFindModal.-done #lr-find-progress {
        display: none;
    }
    """

    def __init__(self, cfg: Config, data: str | None, device: str = "auto", *,
                 dataset: Dataset | None = None, steps: int = 100) -> None:
        super().__init__(classes="modal")
        # A copy: the sweep reads it in a thread while the caller may go on editing its own.
        self.cfg, self.data, self.device, self.dataset, self.steps = cfg.copy(), data, device, dataset, steps
        self.result: LRFindResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(f"LR range test: {self.steps} steps of {self.cfg.model.name} on {self.data or 'the default data'}, "
                        "every peak LR rising together", classes="dialog-text", markup=False)
            yield ProgressBar(total=self.steps, show_eta=False, id="lr-find-progress")
            yield LRFindPlot(id="lr-find-plot")
            yield Static("", id="lr-find-line")
            yield Static("", id="lr-find-error", classes="field-error", markup=False)  # messages hold [section]s
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (a)", id="apply", variant="primary", disabled=True, compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._sweep = self.sweep()

    @work(thread=True, group="lr-find", exclusive=True, exit_on_error=False)
    def sweep(self) -> None:
        from ...data import DataError
        from ...training.lr_find import find_lr

        worker = get_current_worker()
        try:
            result = find_lr(self.cfg, data=self.data, dataset=self.dataset, device_name=self.device,
                             steps=self.steps, progress=lambda done, total: self.post_message(SweepProgress(done, total)),
                             should_stop=lambda: worker.is_cancelled)
        except (DataError, ConfigError, ValueError) as e:
            self.post_message(SweepFailed(str(e)))
            return
        except OSError as e:
            self.post_message(SweepFailed(f"{e.filename or 'file system'}: {e.strerror or e}"))
            return
        except Exception as e:  # noqa: BLE001 - a bug (or a model that cannot take these images): say so, keep the app
            self.post_message(SweepFailed(f"unexpected {type(e).__name__}: {e}"))
            return
        if not worker.is_cancelled:
            self.post_message(SweepDone(result))

    def on_sweep_progress(self, message: SweepProgress) -> None:
        self.query_one("#lr-find-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_sweep_failed(self, message: SweepFailed) -> None:
        error = self.query_one("#lr-find-error", Static)
        error.update(message.message)
        error.set_class(True, "-shown")
        self.query_one("#lr-find-progress", ProgressBar).display = False

    def on_sweep_done(self, message: SweepDone) -> None:
        r = self.result = message.result
        self.set_class(True, "-done")
        self.query_one(LRFindPlot).show(r)
        ended = f"diverged after {r.steps_done} steps" if r.diverged else f"{r.steps_done} steps"
        if r.suggested_lr is None:
            line = f"no suggestion: the loss {ended}, too few to judge; lower optimizer.lr and try again"
        else:
            line = f"suggested lr {rounded(r.suggested_lr):g} ({r.rule})"
            if r.suggested_muon_lr is not None:
                line += f", muon_lr {rounded(r.suggested_muon_lr):g}"
            line += f"  [dim]lr {r.lrs[0]:.2g} to {r.lrs[-1]:.2g}, {ended}, {r.seconds:.0f} s[/dim]"
        self.query_one("#lr-find-line", Static).update(line)
        self.query_one("#apply", Button).disabled = r.suggested_lr is None

    def suggestion(self) -> dict | None:
        r = self.result
        if r is None or r.suggested_lr is None:
            return None
        values = {"optimizer.lr": rounded(r.suggested_lr)}
        if r.suggested_muon_lr is not None:
            values["optimizer.muon_lr"] = rounded(r.suggested_muon_lr)
        return values

    def action_apply(self) -> None:
        if (values := self.suggestion()) is not None:
            self.dismiss(values)

    def action_cancel(self) -> None:
        # The sweep reads the cancel at its next step and ends; its result is dropped.
        self._sweep.cancel()
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.action_cancel()
