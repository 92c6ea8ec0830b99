"""Pictures on the Runs screen, driven as a user would: an evaluation's thumbnails drawn by
textual-image (half cells here: no terminal in a test), a drill from a confusion matrix cell and
from a class's row into their images, and one image looked at with its Grad-CAM maps."""
from __future__ import annotations


import pytest
from textual.widgets import Label

from tui_trainer.app.widgets.class_report import ClassReport
from tui_trainer.app.widgets.confusion import ConfusionView
from tui_trainer.app.widgets.look import SHOWN, DrillModal, LookModal
from tui_trainer.app.widgets.picture import choose, way
from tui_trainer.app.widgets.thumbnails import Thumbnail
from tui_trainer.events import RunFinished
from tui_trainer.training.trainer import Trainer

from tests.conftest import tiny_config
from .conftest import make_app, run, wait_for


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, small_data):
    root = tmp_path_factory.mktemp("pictures")
    result = Trainer(tiny_config(**{"run.epochs": 1, "run.precision": "fp32"}), data="synthetic",
                     runs_dir=root / "runs", dataset=small_data).run()
    assert isinstance(result, RunFinished), result
    return root


async def evaluate(pilot):
    await pilot.press("f3")
    ck = pilot.app.screen
    await wait_for(pilot, lambda: ck.checkpoint_infos, 30, "the checkpoints")
    await pilot.press("e")
    await wait_for(pilot, lambda: ck.last_result is not None and ck.query(Thumbnail), 60, "the evaluation")
    return ck


def title(screen) -> str:
    return str(screen.query_one("#drill-title", Label).render())


def test_thumbnails_are_textual_images_half_cells_without_a_terminal(evaluated_run, app_home, small_data):
    from textual_image.widget import HalfcellImage

    assert choose() == way() == "half blocks"

    async def scenario():
        app = make_app(evaluated_run, small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            ck = await evaluate(pilot)
            thumbs = list(ck.query(Thumbnail))
            assert thumbs and all(isinstance(t.query_one(".thumb-image"), HalfcellImage) for t in thumbs)
            first = thumbs[0].query_one(".thumb-image")
            # Mounted is not yet laid out: on a loaded machine the size comes a refresh later.
            await wait_for(pilot, lambda: first.size == (16, 8), 10, lambda: f"the thumbnail's size: {first.size}")
            assert first.size == (16, 8)  # 16x16 pixels, two a cell
            assert thumbs[0].index == ck.last_result.worst[0].index

    run(scenario())


def test_a_confusion_cell_drills_into_its_images_and_one_shows_where_it_looked(evaluated_run, app_home, small_data):
    async def scenario():
        app = make_app(evaluated_run, small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            ck = await evaluate(pilot)
            result = ck.last_result
            matrix = ck.query_one(ConfusionView)
            matrix.focus()
            await pilot.pause()
            true, pred = matrix.cursor  # it starts on the largest confusion
            count = result.confusion[true][pred]
            assert true != pred and count == max(n for i, row in enumerate(result.confusion)
                                                 for j, n in enumerate(row) if i != j)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DrillModal) and app.screen.query(Thumbnail), 10)
            drill = app.screen
            shown = [t.index for t in drill.query(Thumbnail)]
            assert f"predicted as {result.classes[pred]}: {count} image" in title(drill)
            assert len(shown) == min(count, SHOWN) and shown == result.images(true=true, pred=pred)[:SHOWN]
            await pilot.press("enter")  # the first thumbnail has the focus
            await wait_for(pilot, lambda: isinstance(app.screen, LookModal) and app.screen.query(".look-map"), 60,
                           "the maps")
            look = app.screen
            assert len(look.query(".look-map")) == 2  # the predicted class's map and the true one's
            text = " ".join(str(s.render()) for s in look.query("Static"))
            assert "Grad-CAM at features.7 (16x16)" in text and f"true: {result.classes[true]}" in text
            await pilot.press("escape")
            await pilot.press("escape")
            assert app.screen is ck
            # Moving the cursor onto the diagonal: a class's right answers.
            for _ in range(abs(pred - true)):
                await pilot.press("left" if pred > true else "right")
            assert matrix.cursor == (true, true)

    run(scenario())


def test_a_classs_row_shows_its_misses_and_v_its_false_alarms(evaluated_run, app_home, small_data):
    async def scenario():
        app = make_app(evaluated_run, small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            ck = await evaluate(pilot)
            result = ck.last_result
            report = ck.query_one(ClassReport)
            report.focus()
            await pilot.press("down")  # the second class
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DrillModal), 10)
            name = result.classes[1]
            misses = result.images(true=1, wrong=True)
            assert f"{name}'s misses" in title(app.screen) and f": {len(misses)} image" in title(app.screen)
            await pilot.press("v")
            alarms = result.images(pred=1, wrong=True)
            assert f"{name}'s false alarms" in title(app.screen) and f": {len(alarms)} image" in title(app.screen)
            assert [t.index for t in app.screen.query(Thumbnail)] == alarms[:SHOWN]

    run(scenario())
