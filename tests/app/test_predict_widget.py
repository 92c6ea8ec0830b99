"""The prediction view (thumbnail and top-k bars) on its own, and the Runs screen's p: ask for an
image file, predict it with the highlighted checkpoint, show the result or one notification."""
from __future__ import annotations

import torch
from PIL import Image
from textual.app import App, ComposeResult

from tui_trainer.app.dialogs import AskModal, InfoModal
from tui_trainer.app.screens.runs import RunsScreen
from tui_trainer.app.widgets.prediction import PredictionView, bar
from tui_trainer.config import Config
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.models import build_model
from tui_trainer.training import checkpoints
from tui_trainer.training.predict import predict_images
from tui_trainer.workspace.fixtures import write_run_folder

from .conftest import make_app, run, wait_for

HALF = "▀"  # textual-image draws two pixels a cell: the top one in front, the bottom one behind


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def test_bar_is_drawn_in_eighths():
    assert bar(1.0, 10) == "█" * 10 and bar(0.0, 10) == " " * 10
    assert bar(0.5, 10) == "█" * 5 + " " * 5
    assert bar(0.0625, 10) == "▋" + " " * 9  # 0.625 columns: five eighths
    assert bar(1.7, 4) == "████" and len(bar(0.33, 20)) == 20


def test_prediction_view_shows_the_image_and_a_bar_per_class():
    image = make_synthetic(n_train=10, n_test=10).test_x[0].numpy()
    top = [("stripes-h", 0.75), ("rings", 0.2), ("checker", 0.05)]

    class Host(App):
        def compose(self) -> ComposeResult:
            yield PredictionView(image, top, "as the model sees it (32x32)", id="view")

    async def scenario():
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            view = app.query_one(PredictionView)
            assert view.verdict == "stripes-h (75.0%)"
            thumb = app.query_one("#prediction-image")
            assert (thumb.size.width, thumb.size.height) == (32, 16)
            lines = screen_lines(app)
            assert all(line[:32] == HALF * 32 for line in lines[:16])  # the 32x32 image: 32 columns, 16 rows
            text = "\n".join(lines)
            assert "stripes-h (75.0%)" in text
            rows = {name: line for line in lines for name, _ in top if f" {name} " in line[32:] + " "}
            assert set(rows) == {"stripes-h", "rings", "checker"}
            assert "█" * 15 in rows["stripes-h"] and " 75.0%" in rows["stripes-h"]  # 0.75 of 20 columns
            assert "█" * 4 in rows["rings"] and "█" * 5 not in rows["rings"] and " 20.0%" in rows["rings"]
            assert "█" in rows["checker"] and "██" not in rows["checker"] and " 5.0%" in rows["checker"]

    run(scenario())


def test_runs_screen_predicts_a_file_with_the_highlighted_checkpoint(tmp_path, app_home):
    data = make_synthetic(n_train=10, n_test=10)
    cfg = Config()
    for key, value in {"model.name": "seed_cnn", "model.widths": [8, 16, 32]}.items():
        cfg.set(key, value)
    torch.manual_seed(0)
    model = build_model("seed_cnn", 10, [8, 16, 32])
    ckpt = tmp_path / "best.pt"
    checkpoints.save(ckpt, checkpoints.weights_payload(checkpoints.header(cfg, data.classes, "fp32"),
                                                       checkpoints.cpu_state(model), 1, {"test_acc": 0.1}))
    run_dir = write_run_folder(tmp_path / "runs", "20261201-090000-tiny", cfg, [0.1], checkpoint=ckpt.read_bytes())
    picture = tmp_path / "pictures" / "cat.png"
    picture.parent.mkdir()
    Image.fromarray(data.test_x[3].permute(1, 2, 0).numpy()).resize((48, 40)).save(picture)
    not_image = tmp_path / "pictures" / "notes.png"
    not_image.write_text("not an image")
    expected = predict_images(run_dir / "checkpoints" / "best.pt", [picture], "cpu", top=5).predictions[0]

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.press("f3")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            await wait_for(pilot, lambda: screen.checkpoint_infos, 20, "the checkpoint rows")
            assert any(b.action == "predict" and not b.show for b in RunsScreen.BINDINGS)

            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, AskModal), 5, "the path question")
            app.screen.query_one("#answer").value = str(tmp_path / "nope.png")
            await pilot.press("enter")  # a path that does not exist is refused in the dialog
            await pilot.pause()
            assert isinstance(app.screen, AskModal)
            assert "no such file" in str(app.screen.query_one("#answer-error").render())
            app.screen.query_one("#answer").value = str(picture)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, InfoModal), 30, "the prediction")
            shown = app.screen.query_one(PredictionView)
            await pilot.pause()
            assert shown.top == [(g.name, g.probability) for g in expected.top] and len(shown.top) == 5
            assert shown.pixels.shape == (3, 32, 32)  # resized to the checkpoint's image size
            text = "\n".join(screen_lines(app))
            assert f"{expected.best.name} ({expected.best.probability:.1%})" in text and "cat.png" in text
            await pilot.press("escape")
            assert isinstance(app.screen, RunsScreen)

            await pilot.press("p")  # a file that is not an image: one notification
            await wait_for(pilot, lambda: isinstance(app.screen, AskModal), 5, "the path question")
            assert app.screen.query_one("#answer").value == str(picture)  # the last path is offered again
            app.screen.query_one("#answer").value = str(not_image)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app._notifications, 30, "the notification")
            (note,) = list(app._notifications)
            assert note.title == "Cannot predict notes.png" and "not an image" in note.message
            assert isinstance(app.screen, RunsScreen)

    run(scenario())
