"""Checkpoints screen on run folders written by hand."""
from __future__ import annotations

import os

from tui_trainer.app.screens.checkpoints import CheckpointsScreen
from tui_trainer.config import Config, to_toml

from .conftest import make_app, run, wait_for


def fake_run(root, name="20240101-120000-fake"):
    run_dir = root / name
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.toml").write_text(to_toml(Config()))
    return run_dir


def test_unreadable_checkpoint_is_marked_not_fatal(tmp_path, app_home):
    run_dir = fake_run(tmp_path / "runs")
    (run_dir / "checkpoints" / "best.pt").write_bytes(os.urandom(4096))

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            ck = app.screen
            assert isinstance(ck, CheckpointsScreen)
            await wait_for(pilot, lambda: ck.ckpt_rows, 20, "the checkpoint rows")
            status = ck.checkpoint_status("best.pt")
            assert status.startswith("unreadable: "), status
            assert str(run_dir) not in status  # the row already names the file

            await pilot.press("e")  # evaluating it reports, and the app goes on
            await wait_for(pilot, lambda: "best.pt" in str(ck.query_one("#eval-headline").render()), 30)
            assert ck.last_result is None
            assert ck.checkpoint_status("best.pt").startswith("unreadable: ")
            await pilot.press("f1")
            assert app.current_mode == "setup"

    run(scenario())


def test_delete_asks_first(tmp_path, app_home):
    keep = fake_run(tmp_path / "runs", "20240101-120000-keep")
    gone = fake_run(tmp_path / "runs", "20240102-120000-gone")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            ck = app.screen
            await wait_for(pilot, lambda: ck.selected is not None, 20)
            assert ck.selected.path == gone  # newest first
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause(0.2)
            assert gone.exists()
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not gone.exists() and [r.path for r in ck.runs] == [keep], 20)

    run(scenario())
