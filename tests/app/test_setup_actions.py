"""The Setup screen's ways into many runs: the LR finder's suggestion put into the form, the form
queued as a preset and its changes, and a study built from the form and opened on the Search screen."""
from __future__ import annotations

from tui_trainer.app.screens.search import SearchScreen
from tui_trainer.app.widgets.config_form import ConfigForm
from tui_trainer.search.study_file import load_study
from tui_trainer.workspace.queue import Queue

from .conftest import make_app, run, select_preset, wait_for
from .test_setup import type_into


def test_the_lr_finder_suggestion_goes_into_the_form(tmp_path, app_home, small_data):
    async def scenario():
        app = make_app(tmp_path, small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            setup = app.screen
            await pilot.press("f8")
            modal = app.screen
            await wait_for(pilot, lambda: modal.result is not None, 60, "the sweep")
            suggested = modal.suggestion()["optimizer.lr"]
            await pilot.press("a")
            await wait_for(pilot, lambda: app.screen is setup, 5, "the dialog to close")
            await pilot.pause(0.2)
            assert setup.query_one(ConfigForm).config.optimizer.lr == suggested

    run(scenario())


def test_the_form_is_queued_as_its_preset_and_changes_and_a_study_is_built_from_it(tmp_path, app_home,
                                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # the study is written to ./studies

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            form = app.screen.query_one(ConfigForm)
            await type_into(pilot, form.editor("run.epochs"), "5")
            await pilot.press("f9")
            await pilot.pause(0.2)
            (item,) = Queue(tmp_path / "runs").items()
            assert item.preset == "tiny-app" and item.sets == ["run.epochs=5"]

            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: app.screen.query("#study-space"), 5, "the study builder")
            await pilot.press("ctrl+s")  # its suggested ranges around the form's LR, as they are
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen.places, 10,
                           "the Search screen with the study")
            spec = app.screen.places.spec
            assert spec.name == "tiny-app-search" and spec.base.run.epochs == 5 and spec.trials == 12
            assert [p.key for p in spec.space] == ["optimizer.lr"]  # tiny-app has no weight decay
            assert spec.space[0].low < 0.003 < spec.space[0].high and spec.space[0].log
            assert load_study(tmp_path / "studies" / "tiny-app-search.toml").base.to_dict() == spec.base.to_dict()

    run(scenario())


def test_a_bad_range_keeps_the_builder_open_with_the_problem(tmp_path, app_home, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: app.screen.query("#study-space"), 5, "the study builder")
            app.screen.query_one("#study-space").text = "optimizer.lr = 0.5 .. 0.1 log"
            await pilot.press("ctrl+s")
            await pilot.pause(0.2)
            assert "low = 0.5 must be below high = 0.1" in str(app.screen.query_one("#answer-error").render())
            assert not (tmp_path / "studies").exists() or not list((tmp_path / "studies").glob("*.toml"))

    run(scenario())
