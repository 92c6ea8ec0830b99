"""The LR finder dialog: it sweeps in a thread, shows the curve and the suggestion, applies it with
`a`, stops the sweep on Escape, and shows a problem as one red line."""
from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Button, Static

import tui_trainer.app
from tui_trainer.app.screens.lr_find import LRFindModal, rounded
from tui_trainer.app.widgets.lr_find_plot import LRFindPlot
from tui_trainer.config import Config

from .conftest import run, wait_for

UNSET = object()


class Host(App):
    """A bare app that opens one dialog and keeps its answer; the real app's stylesheet."""

    CSS_PATH = Path(tui_trainer.app.__file__).parent / "app.tcss"

    def __init__(self, modal: LRFindModal) -> None:
        super().__init__()
        self.modal, self.answer = modal, UNSET

    def on_mount(self) -> None:
        self.push_screen(self.modal, callback=self.answered)

    def answered(self, answer) -> None:  # noqa: ANN001
        self.answer = answer


def muon_config() -> Config:
    cfg = Config()
    for key, value in {"model.name": "airbench", "model.widths": [8, 16, 16], "data.batch_size": 64,
                       "optimizer.name": "muon", "optimizer.lr": 0.5, "optimizer.muon_lr": 0.1,
                       "optimizer.bias_lr_scale": 64.0, "run.precision": "fp32"}.items():
        cfg.set(key, value)
    return cfg


def test_the_suggestion_is_shown_and_applied_with_a(small_data):
    async def scenario():
        modal = LRFindModal(muon_config(), "synthetic", "cpu", dataset=small_data, steps=15)
        app = Host(modal)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: modal.result is not None, 30, "the sweep")
            await pilot.pause()
            r = modal.result
            line = str(modal.query_one("#lr-find-line", Static).render())
            assert f"suggested lr {rounded(r.suggested_lr):g} (steepest descent)" in line, line
            assert f"muon_lr {rounded(r.suggested_muon_lr):g}" in line, line
            assert modal.query_one(LRFindPlot).display and modal.query_one(LRFindPlot).builds > 0
            assert not modal.query_one("#apply", Button).disabled
            await pilot.press("a")
            await pilot.pause()
            assert app.answer == {"optimizer.lr": rounded(r.suggested_lr),
                                  "optimizer.muon_lr": rounded(r.suggested_muon_lr)}

    run(scenario())


def test_escape_while_sweeping_stops_the_sweep_and_answers_none(small_data):
    async def scenario():
        modal = LRFindModal(muon_config(), "synthetic", "cpu", dataset=small_data, steps=1000)
        app = Host(modal)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: modal.query_one("#lr-find-progress").progress >= 1, 30, "a step")
            await pilot.press("escape")
            await pilot.pause()
            assert app.answer is None and modal.result is None
            await wait_for(pilot, lambda: modal._sweep.is_finished, 10, "the sweep to end")

    run(scenario())


def test_a_problem_shows_as_one_red_line(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-100-python").mkdir()

    async def scenario():
        modal = LRFindModal(muon_config(), str(tmp_path), "cpu", steps=20)
        app = Host(modal)
        async with app.run_test(size=(120, 40)) as pilot:
            error = modal.query_one("#lr-find-error", Static)
            await wait_for(pilot, lambda: error.has_class("-shown"), 30, "the error")
            text = str(error.render())
            assert "holds cifar10 and cifar100" in text and "\n" not in text.strip(), text
            assert modal.query_one("#apply", Button).disabled
            await pilot.press("a")  # nothing to apply: the dialog stays
            assert app.answer is UNSET
            await pilot.press("escape")
            await pilot.pause()
            assert app.answer is None

    run(scenario())
