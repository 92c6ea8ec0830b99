"""The served app's runs (TrainerApp(detach_runs=True), what `tui-trainer serve` runs for each tab):
F5 starts `tui-trainer train` as detached work and attaches to it, and the run outlives the app."""
from __future__ import annotations

import os
import time

import psutil
import pytest

from tui_trainer.app.app import TrainerApp, work_going_on
from tui_trainer.app.widgets.setup_info import SetupInfo
from tui_trainer.control import send_command
from tui_trainer.workspace import folder
from tui_trainer.workspace.summary import read_summary

from .conftest import TINY_PRESET, run, select_preset, wait_for
from .test_search_screen import small_cifar


def test_a_run_started_in_a_served_app_is_its_own_process_and_outlives_the_app(tmp_path, app_home):
    data = small_cifar(tmp_path / "data")

    async def scenario():
        app = TrainerApp(data, tmp_path / "runs", "cpu", detach_runs=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-long")
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.session is not None and app.session.kind == "attached", 120,
                           "the app to attach to its detached run")
            run_dir = app.session.run_dir
            pid = folder.live_pid(run_dir)
            assert pid is not None and pid != os.getpid() and os.getsid(pid) != os.getsid(0)
            await wait_for(pilot, lambda: app.session.epochs, 120, "the first epoch in the Training view")
            return run_dir

    summary = summary_once_ended(run(scenario()))
    assert summary.state == "finished" and summary.epochs_done == 4 and summary.preset == "tiny-long"


def summary_once_ended(run_dir):
    """The run's summary once its process, left going when the app exited, has ended it."""
    deadline = time.time() + 120
    while (summary := read_summary(run_dir)) is None or summary.state == "live":
        assert time.time() < deadline, "the run did not finish after the app exited"
        time.sleep(0.5)
    return summary


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two processes need two cores")
def test_a_run_on_two_processes_from_setup_is_detached_work_the_app_shows_live(tmp_path, app_home):
    """Setup's processes field at 2: F5 starts `tui-trainer train --nproc 2` detached, the Training
    screen follows it through the run folder, quitting says it goes on, and a stop through the run
    folder (what `tui-trainer stop` does) reaches both ranks after the app has gone."""
    from textual.widgets import Select

    data = small_cifar(tmp_path / "data")
    # Long enough that the stop below reaches it on any CPU (4 epochs end within seconds on a fast
    # one); the stop ends it long before its 40 epochs on a slow one.
    (app_home / ".config" / "tui-trainer" / "presets" / "tiny-slow.toml").write_text(TINY_PRESET.format(epochs=40))

    async def scenario():
        app = TrainerApp(data, tmp_path / "runs", "cpu")
        async with app.run_test(size=(120, 40)) as pilot:
            await select_preset(pilot, "tiny-slow")
            device = app.screen.query_one("#device")
            await wait_for(pilot, lambda: "cpu" in str(device.render()), 30, "the process choices")
            app.screen.query_one("#nproc", Select).value = 2
            await pilot.pause()
            assert app.screen.query_one(SetupInfo).processes == 2
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.session is not None and app.session.kind == "attached", 120,
                           "the app to attach to its 2-process run")
            run_dir = app.session.run_dir
            launcher = psutil.Process(folder.live_pid(run_dir)).parent()
            assert launcher.pid != os.getpid() and os.getsid(launcher.pid) != os.getsid(0)
            await wait_for(pilot, lambda: app.session.epochs, 120, "the first epoch in the Training view")
            assert app.session.started.device.endswith("x 2 processes")
            said = work_going_on(tmp_path / "runs", app.started_runs)
            assert len(said) == 1 and f"run {run_dir.name} goes on in the background" in said[0]
            return run_dir

    run_dir = run(scenario())
    send_command(run_dir, "stop")
    summary = summary_once_ended(run_dir)
    assert summary.state == "stopped" and summary.device.endswith("x 2 processes")
