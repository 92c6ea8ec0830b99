"""Attaching to a run that another process trains: fed from its events.jsonl, stopped by file."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from tui_trainer.app.screens.runs import RunsScreen
from tui_trainer.app.widgets.epoch_table import EpochTable
from tui_trainer.config import Config, to_toml
from tui_trainer.control import CONTROL_FILE
from tui_trainer.events import BatchProgress, EpochEnded, RunFinished, RunStarted
from tui_trainer.workspace import folder

from .conftest import make_app, run, wait_for


def epoch(i: int) -> EpochEnded:
    return EpochEnded(i, 1.0 / i, 0.5 + i / 10, 1.1 / i, 0.5 + i / 11, 0.01, 3.0, 1000.0, True)


def test_attach_follows_a_live_run_from_its_folder_and_can_stop_it(tmp_path, app_home):
    run_dir = tmp_path / "runs" / "20240101-120000-other"
    (run_dir / "checkpoints").mkdir(parents=True)
    cfg = Config()
    cfg.run.epochs = 3
    (run_dir / "config.toml").write_text(to_toml(cfg))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "live.json").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                                       "started": time.time() - 30}))
        # An earlier session of the same folder, then the current one: only the latest is followed.
        for event in [RunStarted(str(run_dir), cfg.to_dict(), "cpu", "fp32", 10, 5, 0, list("abcdefghij")),
                      RunFinished(str(run_dir), 0.6, 1, 1, 5.0, 0.6, True),
                      RunStarted(str(run_dir), cfg.to_dict(), "cpu", "fp32", 10, 5, 1, list("abcdefghij")),
                      epoch(2), BatchProgress(3, 2, 5, 0.4, 0.01, 900.0)]:
            folder.append_event(run_dir, event)
        folder.append_metrics(run_dir, epoch(1))
        folder.append_metrics(run_dir, epoch(2))

        async def scenario():
            app = make_app(tmp_path)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("f3")
                ck = app.screen
                assert isinstance(ck, RunsScreen)
                await wait_for(pilot, lambda: ck.current is not None and ck.current.live, 20, "the live run")
                await pilot.press("a")
                await wait_for(pilot, lambda: app.session is not None and app.session.kind == "attached"
                               and app.session.progress is not None, 20, "the follower")
                session = app.session
                assert app.current_mode == "training"
                assert [e.epoch for e in session.epochs] == [1, 2]  # epoch 1 from metrics.csv (resumed run)
                assert "attached: another process trains it" in str(app.screen.query_one("#status").render())
                assert app.screen.query_one(EpochTable).row_count == 2

                await pilot.press("x")  # asks the other process through the control file
                await pilot.pause(0.1)
                assert (run_dir / CONTROL_FILE).read_text() == "stop"

                folder.append_event(run_dir, epoch(3))
                folder.append_event(run_dir, RunFinished(str(run_dir), 0.77, 3, 3, 9.0, 0.77, True))
                await wait_for(pilot, lambda: not session.live, 10, "RunFinished through the file")
                await pilot.pause(0.2)
                assert session.finished.stopped
                assert app.screen.query_one(EpochTable).row_count == 3
                assert "STOPPED" in str(app.screen.query_one("#status").render())

        run(scenario())
    finally:
        other.kill()
        other.wait()


def test_follower_reports_a_process_that_died(tmp_path):
    from tui_trainer.app.session import follow_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    folder.append_event(run_dir, RunStarted(str(run_dir), Config().to_dict(), "cpu", "fp32", 1, 1, 0, ["a"]))
    seen = []
    follow_run(run_dir, seen.append, lambda: False, poll_s=0.01)  # no live.json: the trainer is gone
    assert isinstance(seen[0], RunStarted) and "ended without finishing" in seen[-1].message
