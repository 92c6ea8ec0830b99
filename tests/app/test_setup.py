"""Setup screen: validation as typed, Start refused while invalid, save as preset."""
from __future__ import annotations

from textual.widgets import Input, ListView

from tui_trainer.app.screens.setup import SetupScreen
from tui_trainer.app.widgets.config_form import ConfigForm
from tui_trainer.app.widgets.lr_plot import LRSchedulePlot
from tui_trainer.config import load_toml

from .conftest import make_app, run, select_preset


async def type_into(pilot, editor: Input, text: str) -> None:
    editor.focus()
    await pilot.pause()
    await pilot.press("home", "ctrl+k", *text)  # to the start, delete to the end, type
    await pilot.pause()


def test_invalid_field_shows_its_message_and_start_is_refused(tmp_path, app_home):
    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            form = app.screen.query_one(ConfigForm)
            assert form.valid
            await type_into(pilot, form.editor("optimizer.lr"), "-1")
            row = form.rows["optimizer.lr"]
            assert row.has_class("-invalid")
            message = row.error_text
            assert "optimizer.lr" in message and "from 1e-06 to 10" in message, message
            assert not form.valid and form.invalid_fields == ["optimizer.lr"]
            await pilot.pause(0.2)
            assert app.screen.query_one(LRSchedulePlot).points == ([], [])  # no curve from an invalid lr
            status = str(app.screen.query_one("#form-status").render())
            assert "optimizer.lr" in status and "refused" in status

            await pilot.press("f5")
            await pilot.pause()
            assert app.session is None and app.current_mode == "setup"
            assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
            notes = [n.message for n in app._notifications]
            assert any("refused" in n and "optimizer.lr" in n for n in notes), notes

            # Fixing the value clears the message.
            await type_into(pilot, form.editor("optimizer.lr"), "0.02")
            assert form.valid and not row.has_class("-invalid")
            assert form.config.optimizer.lr == 0.02

    run(scenario())


def test_lr_plot_follows_the_schedule_fields(tmp_path, app_home):
    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            plot = app.screen.query_one(LRSchedulePlot)
            xs, ys = plot.points
            assert xs[-1] < 2 and max(ys) <= 0.003 + 1e-12  # 2 epochs of cosine from 0.003
            form = app.screen.query_one(ConfigForm)
            await type_into(pilot, form.editor("run.epochs"), "6")
            await pilot.pause(0.2)
            xs, _ = plot.points
            assert 5 < xs[-1] < 6
            builds = plot.builds
            await pilot.pause(0.2)
            assert plot.builds == builds  # no redraw without new data

    run(scenario())


def test_save_as_preset_lists_it_at_once(tmp_path, app_home):
    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            form = app.screen.query_one(ConfigForm)
            await type_into(pilot, form.editor("run.epochs"), "7")
            await type_into(pilot, form.editor("description"), "my own recipe")
            await pilot.press("f6")
            await pilot.pause()
            answer = app.screen.query_one("#answer", Input)
            await type_into(pilot, answer, "my-recipe")
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, SetupScreen)
            path = app_home / ".config" / "tui-trainer" / "presets" / "my-recipe.toml"
            assert path.is_file()
            saved = load_toml(path)
            assert saved.run.epochs == 7 and saved.description == "my own recipe"
            view = app.screen.query_one("#presets", ListView)
            items = {item.preset.name: item for item in view.children}
            assert "my-recipe" in items and not items["my-recipe"].preset.builtin
            assert view.highlighted_child is items["my-recipe"]
            text = " ".join(str(label.render()) for label in items["my-recipe"].query("Label"))
            assert "my own recipe" in text and "yours" in text

    run(scenario())


def test_the_form_has_an_editor_for_every_config_field(tmp_path, app_home):
    from tui_trainer.config import all_paths

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            form = app.screen.query_one(ConfigForm)
            assert set(form.rows) == {"description", *all_paths()}
            assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
            commands = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Start", "Save", "LR find", "Add to queue", "Show queue", "Search these", "Go to Setup",
                    "Go to Training", "Go to Runs", "Go to Search"} <= commands

    run(scenario())


def test_augmented_examples_follow_the_augmentation_fields(tmp_path, app_home):
    import numpy as np

    from tui_trainer.app.widgets.augment_strip import AugmentStrip
    from tui_trainer.app.widgets.thumbnails import Thumbnail

    from .conftest import wait_for

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")  # no crop, no flip, no mixing
            strip = app.screen.query_one(AugmentStrip)
            await wait_for(pilot, lambda: len(strip.query(Thumbnail)) == 2, 30, "the examples")
            plain = [t.image.copy() for t in strip.query(Thumbnail)]
            assert all(t.detail == "" for t in strip.query(Thumbnail))

            form = app.screen.query_one(ConfigForm)
            await type_into(pilot, form.editor("augment.cutout"), "12")
            await wait_for(pilot, lambda: strip.query(Thumbnail) and not np.array_equal(
                strip.query(Thumbnail)[0].image, plain[0]), 30, "examples with cutout")
            cut = strip.query(Thumbnail)[0].image
            # The same image (the order is a function of the seed), now with black pixels it lacked.
            assert ((cut == 0).all(axis=0) & ~(plain[0] == 0).all(axis=0)).sum() > 12
            await type_into(pilot, form.editor("augment.mixup_alpha"), "0.4")
            await wait_for(pilot, lambda: any("+" in t.detail for t in strip.query(Thumbnail)), 30, "MixUp")

    run(scenario())
