"""A real short run on synthetic data, watched, left and re-entered, then evaluated."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from textual.worker import WorkerState

from tui_trainer.app.screens import training
from tui_trainer.app.screens.runs import RunsScreen
from tui_trainer.app.screens.training import TrainingScreen
from tui_trainer.app.widgets.epoch_table import EpochTable
from tui_trainer.app.widgets.metric_plots import AccuracyPlot, LossPlot, TrainingLRPlot
from tui_trainer.app.widgets.thumbnails import Thumbnail
from tui_trainer.training.evaluate import evaluate_checkpoint

from .conftest import TINY_PRESET, make_app, run, select_preset, start_preset, wait_for


def test_short_run_fills_table_and_plots_and_its_best_checkpoint_evaluates(tmp_path, app_home, small_data):
    async def scenario():
        app = make_app(tmp_path, data=small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-app")
            assert app.current_mode == "training"
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.3)
            assert session.failed is None, session.failed
            assert session.finished is not None and not session.finished.stopped

            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            assert screen.query_one(EpochTable).row_count == 2
            for plot in (screen.query_one(AccuracyPlot), screen.query_one(LossPlot)):
                assert [e.epoch for e in plot.epochs] == [1, 2] and plot.builds >= 1
            lr_plot = screen.query_one(TrainingLRPlot)
            assert lr_plot.xs and lr_plot.planned and len(lr_plot.planned[0]) <= 300
            status = str(screen.query_one("#status").render())
            assert "FINISHED" in status and "best" in status
            assert f"final {session.finished.final_acc:.2%}" in status  # the tiny preset has no TTA

            best = Path(session.run_dir) / "checkpoints" / "best.pt"
            assert best.is_file()

            await pilot.press("f3")
            ck = app.screen
            assert isinstance(ck, RunsScreen)
            await wait_for(pilot, lambda: ck.runs and ck.checkpoint_infos, 20, "the run listing")
            assert ck.runs[0].path == Path(session.run_dir)
            assert ck.runs[0].epochs_done == 2
            assert ck.current_checkpoint() == best
            assert ck.checkpoint_status("best.pt") == "ok"

            await pilot.press("e")
            await wait_for(pilot, lambda: ck.last_result is not None, 60, "the evaluation")
            await pilot.pause(0.2)
            headline = str(ck.query_one("#eval-headline").render())
            expected = evaluate_checkpoint(best, "synthetic", "cpu", dataset=small_data, worst=12)
            shown = float(re.search(r"accuracy ([\d.]+)%", headline).group(1))
            assert shown == pytest.approx(round(expected.accuracy * 100, 2), abs=1e-9)
            assert f"{expected.accuracy:.2%}" in headline
            assert len(ck.query(Thumbnail)) == len(expected.worst)

            # Resume it for one more epoch: the training screen shows the two old epochs and the new.
            await pilot.press("r")
            await pilot.pause()
            answer = app.screen.query_one("#answer")
            assert answer.value == "3"  # the smallest total that continues it
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.session is not session, 5, "the resumed session")
            resumed = app.session
            assert app.current_mode == "training"
            await wait_for(pilot, lambda: not resumed.live, 120, "the resumed run to end")
            await pilot.pause(0.3)
            assert resumed.failed is None, resumed.failed
            assert resumed.started.start_epoch == 2 and resumed.run_dir == session.run_dir
            assert app.screen.query_one(EpochTable).row_count == 3
            assert [e.epoch for e in resumed.epochs] == [1, 2, 3]

    run(scenario())


def test_leaving_and_reentering_the_training_screen_keeps_the_run(tmp_path, app_home, small_data):
    async def scenario():
        app = make_app(tmp_path, data=small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-long")
            training = app.screen
            assert isinstance(training, TrainingScreen)

            await pilot.press("f3")  # away, at once
            assert app.current_mode == "runs"
            ck = app.screen
            await wait_for(pilot, lambda: len(session.epochs) >= 2, 90, "epochs while away")
            assert session.worker.state in (WorkerState.RUNNING, WorkerState.SUCCESS)
            await wait_for(pilot, lambda: ck.runs and ck.runs[0].path == Path(session.run_dir), 10)

            await pilot.press("f2")  # back
            assert app.screen is training
            await pilot.pause(0.1)
            table = training.query_one(EpochTable)
            assert table.row_count == len(session.epochs) >= 2  # the history made while away

            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.3)
            assert session.failed is None, session.failed
            assert not session.finished.stopped
            assert table.row_count == 4
            assert [e.epoch for e in training.query_one(AccuracyPlot).epochs] == [1, 2, 3, 4]

    run(scenario())


def test_quit_while_training_asks_then_stops_and_saves_last(tmp_path, app_home, paced_data):
    async def scenario():
        app = make_app(tmp_path, data=paced_data)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-long")
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.session is not None and app.session.progress is not None, 60,
                           "the first steps")
            session = app.session
            await pilot.press("p")  # pause: the footer offers Resume instead
            await wait_for(pilot, lambda: session.paused, 20, "the pause")
            await pilot.pause()
            keys = {b.binding.description for b in app.screen.active_bindings.values()}
            assert "Resume" in keys and "Pause" not in keys
            await pilot.press("ctrl+q")
            await pilot.pause()
            await pilot.press("n")  # keep training
            await pilot.pause(0.2)
            assert app.is_running and session.live
            await pilot.press("ctrl+q")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not session.live, 60, "the stop")
        return session

    session = run(scenario())
    assert session.finished is not None and session.finished.stopped
    assert (Path(session.run_dir) / "checkpoints" / "last.pt").is_file()
    assert session.thread is not None and not session.thread.is_alive()


def test_an_exception_in_the_training_thread_is_shown_and_the_app_stays_usable(tmp_path, app_home, monkeypatch):
    from tui_trainer.training import trainer

    def broken(self):
        raise RuntimeError("boom in the thread")

    monkeypatch.setattr(trainer.Trainer, "run", broken)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-app")
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.session is not None and app.session.failed is not None, 30)
            await pilot.pause(0.2)
            panel = app.screen.query_one("#error-panel")
            assert panel.has_class("-shown") and "boom in the thread" in str(panel.render())
            assert "FAILED" in str(app.screen.query_one("#status").render())
            await pilot.press("f1")
            assert app.current_mode == "setup"

    run(scenario())


def test_the_run_starts_once_the_training_screen_has_drawn(tmp_path, app_home, small_data, monkeypatch):
    """The Training screen is composed on first use: that drawing comes before the run's first
    step, where it would take the CPU from the first epoch."""
    from tui_trainer.training import trainer

    seen_at_start = []
    real_run = trainer.Trainer.run

    def recording_run(self):
        screen = app.screen
        plots = screen.query(AccuracyPlot) if isinstance(screen, TrainingScreen) else []
        seen_at_start.append([tuple(p.size) for p in plots])
        return real_run(self)

    monkeypatch.setattr(trainer.Trainer, "run", recording_run)
    app = make_app(tmp_path, data=small_data)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-app")
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            assert session.finished is not None and not session.finished.stopped

    run(scenario())
    assert len(seen_at_start) == 1
    (sizes,) = seen_at_start
    assert sizes and all(w > 0 and h > 0 for w, h in sizes), sizes


def test_the_footer_is_rebuilt_only_when_a_binding_changes(tmp_path, app_home, small_data, monkeypatch):
    """Every epoch's events redraw the screen, but the footer's keys change only when the run
    starts, pauses, stops or ends: rebuilding it each time costs the run's CPU for nothing."""
    rebuilt = []  # the screen's own calls (Textual calls it too, on focus changes)
    real = TrainingScreen.refresh_bindings

    def counting(self):
        if sys._getframe(1).f_code.co_filename == training.__file__:
            rebuilt.append(self.check_action("pause", ()))
        return real(self)

    monkeypatch.setattr(TrainingScreen, "refresh_bindings", counting)
    app = make_app(tmp_path, data=small_data)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-long")
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.2)
            assert len(session.epochs) == 4 and len(session.events) >= 10, session.events
            # the run live (after an empty screen), then ended: Pause offered, then greyed out
            assert 1 <= len(rebuilt) <= 3 and rebuilt[-1] is None, rebuilt

    run(scenario())


def test_loss_and_accuracy_plots_draw_batch_series_from_the_first_epoch(tmp_path, app_home):
    from tui_trainer.data.synthetic import make_synthetic

    async def scenario():
        # More images than small_data: epoch 1 lasts long enough for several progress reports.
        app = make_app(tmp_path, data=make_synthetic(n_train=4096, n_test=200))
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-app")
            screen = app.screen
            loss, acc = screen.query_one(LossPlot), screen.query_one(AccuracyPlot)
            await wait_for(pilot, lambda: session.batch_loss.xs and session.batch_loss.xs[0] < 1, 60,
                           "batch progress in epoch 1")
            await wait_for(pilot, lambda: loss.batch_xs, 10, "the loss plot's batch series")  # PLOT_DRAW_S
            assert min(loss.batch_xs) < 1 and min(acc.batch_xs) < 1
            assert all(0 <= y <= 1 for y in acc.batch_ys) and all(y > 0 for y in loss.batch_ys)
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")

    run(scenario())


def test_accuracy_plot_says_when_the_test_split_is_evaluated_only_at_the_end():
    from tui_trainer.app.session import RunSession
    from tui_trainer.config import Config
    from tui_trainer.events import RunStarted

    session = RunSession("replay")
    cfg = Config()
    cfg.set("run.epochs", 6)
    cfg.set("run.eval_every", 6)
    session.record(RunStarted("runs/x", cfg.to_dict(), "cpu", "fp32", 1, 10, 0, ["a", "b"]))
    assert TrainingScreen.test_note(session) == "test only after epoch 6"
    cfg.set("run.eval_every", 2)
    session.record(RunStarted("runs/x", cfg.to_dict(), "cpu", "fp32", 1, 10, 0, ["a", "b"]))
    assert TrainingScreen.test_note(session) == "test every 2 epochs"


def test_a_run_holding_images_out_plots_validation_beside_test_and_says_what_chose(tmp_path, app_home, small_data):
    presets = app_home / ".config" / "tui-trainer" / "presets"
    (presets / "tiny-val.toml").write_text(TINY_PRESET.format(epochs=2).replace(
        "batch_size = 128", "batch_size = 128\nvalidation = 200"))

    async def scenario():
        app = make_app(tmp_path, data=small_data)
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-val")
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.3)
            assert session.failed is None, session.failed
            screen = app.screen
            epochs = screen.query_one(AccuracyPlot).epochs
            assert [e.epoch for e in epochs] == [1, 2] and all(e.val_acc is not None for e in epochs)
            assert all(e.val_loss is not None for e in screen.query_one(LossPlot).epochs)
            table = screen.query_one(EpochTable)
            column = [c.label.plain for c in table.columns.values()].index("val acc")
            assert table.get_row_at(1)[column].plain == f"{epochs[1].val_acc:.2%}"
            status = str(screen.query_one("#status").render())
            assert f"chosen on val {session.best_val_acc:.2%}" in status
            assert session.started.validation["images"] == 200

    run(scenario())
