"""The Queue dialog on real queue files: order and edits, a detached runner that outlives the app,
the running item (attach, stop), and an unreadable queue file as one red line."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tui_trainer.app.dialogs import ConfirmModal
from tui_trainer.app.screens.queue import QueueModal
from tui_trainer.config import to_toml
from tui_trainer.control import CONTROL_FILE
from tui_trainer.workspace import folder
from tui_trainer.workspace.queue import QUEUE_DIR, QUEUE_FILE, Queue, QueueItem, Running, runner_pid
from tui_trainer.workspace.summary import RunSummary, read_summary, write_summary

from .conftest import make_app, run, wait_for
from conftest import tiny_config

SMALL = ["model.widths=4,8,8"]  # with the preset's one epoch and 256 images: well under a second


@pytest.fixture
def preset(tmp_path) -> Path:
    path = tmp_path / "tiny-queue.toml"
    path.write_text(to_toml(tiny_config(**{"run.epochs": 1})))
    return path


@pytest.fixture
def cifar(tmp_path) -> Path:
    """256 + 64 synthetic images as CIFAR batches: what the detached runner trains on."""
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.data.writers import write_cifar_batches

    write_cifar_batches(tmp_path / "data", make_synthetic(n_train=256, n_test=64))
    return tmp_path / "data"


def text(modal: QueueModal, selector: str) -> str:
    return str(modal.query_one(selector).render())


def ids(runs: Path) -> list[int]:
    return [item.id for item in Queue(runs).items()]


async def open_queue(pilot) -> QueueModal:
    modal = QueueModal()
    await pilot.app.push_screen(modal)
    await wait_for(pilot, lambda: modal.view is not None, 10, "the first read of the queue")
    return modal


def test_queued_items_show_in_order_and_move_and_remove(tmp_path, app_home, preset):
    runs = tmp_path / "runs"
    for seed in (1, 2, 3):
        Queue(runs).add(str(preset), [*SMALL, f"run.seed={seed}"])

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            modal = await open_queue(pilot)
            table = modal.query_one(DataTable)
            assert modal.row_ids == [1, 2, 3] and table.row_count == 3
            assert "tiny-queue.toml  model.widths=4,8,8  run.seed=1" in str(table.get_row_at(0)[2])
            assert str(table.get_row_at(0)[3]) == "1"  # the preset's epochs
            assert "runner: not running" in text(modal, "#queue-runner")

            await pilot.press("d")  # #1 down: the cursor goes with it
            await wait_for(pilot, lambda: modal.row_ids == [2, 1, 3], 10, "#1 moved down")
            assert ids(runs) == [2, 1, 3] and modal.highlighted_id == 1
            await pilot.press("shift+down")
            await wait_for(pilot, lambda: modal.row_ids == [2, 3, 1], 10, "#1 moved to the end")
            await pilot.press("u")
            await wait_for(pilot, lambda: modal.row_ids == [2, 1, 3], 10, "#1 moved up")
            assert ids(runs) == [2, 1, 3] and modal.highlighted_id == 1

            await pilot.press("delete")  # asks first: n keeps it
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), 5, "the confirm dialog")
            await pilot.press("n")
            await pilot.pause(0.2)
            assert app.screen is modal and ids(runs) == [2, 1, 3]
            await pilot.press("delete")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), 5, "the confirm dialog")
            await pilot.press("y")
            await wait_for(pilot, lambda: modal.row_ids == [2, 3], 10, "#1 removed")
            assert ids(runs) == [2, 3]
            assert any("Removed #1" in n.message for n in app._notifications)
            await pilot.press("enter")  # a queued item has no run to open yet
            await wait_for(pilot, lambda: any("is queued: it has no run yet" in n.message
                                              for n in app._notifications), 5)
            assert app.session is None
            await pilot.press("escape")
            assert app.screen is not modal

    run(scenario())


def test_r_starts_a_runner_that_finishes_after_the_app_exits(tmp_path, app_home, preset, cifar):
    runs = tmp_path / "runs"
    Queue(runs).add(str(preset), SMALL)
    pid = None

    async def scenario():
        nonlocal pid
        app = make_app(tmp_path)
        app.data = str(cifar)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            modal = await open_queue(pilot)
            await pilot.press("r")
            await wait_for(pilot, lambda: any("Queue runner started" in n.message for n in app._notifications), 10)
            (started,) = [n.message for n in app._notifications if "Queue runner started" in n.message]
            pid = int(re.search(r"pid (\d+)", started).group(1))
            # The runner marks itself live before it imports torch: read at once rather than at the
            # next refresh, so that the app exits well before the run ends.
            await wait_for(pilot, lambda: runner_pid(runs) == pid, 30, "the runner to go live")
            modal.refresh_queue()
            await wait_for(pilot, lambda: f"running (pid {pid})" in text(modal, "#queue-runner"), 10,
                           "the dialog to show it running")
        return time.time()

    try:
        exited_at = run(scenario())
        deadline = time.monotonic() + 120
        while not Queue(runs).history() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = (runs / QUEUE_DIR / "runner.log").read_text()
        (done,) = Queue(runs).history()
        assert done.state == "finished", log
        assert done.finished_at > exited_at, "the run ended before the app did: this test proves nothing"
        assert read_summary(Path(done.run_dir)).state == "finished"
        assert Queue(runs).items() == []
    finally:
        if pid is not None and runner_pid(runs) == pid:
            os.kill(pid, signal.SIGTERM)


def fake_running(runs: Path, preset: Path) -> Path:
    """A queue whose runner is this test process, training #1 into a run folder at epoch 1 of 3;
    #2 waits its turn."""
    queue = Queue(runs)
    first = queue.add(str(preset), SMALL, epochs=3)
    queue.add(str(preset), SMALL)
    run_dir = runs / "20260101-120000-tiny-queue"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.toml").write_text(to_toml(tiny_config()))
    write_summary(run_dir, RunSummary(preset="tiny-queue", epochs_done=1, epochs_total=3, best_acc=0.5))
    folder.mark_live(run_dir)
    state = json.loads(queue.path.read_text())
    state["items"].pop(0)
    state["running"] = Running(QueueItem.from_json(first.to_json()), str(run_dir.resolve()), time.time(),
                               os.getpid()).to_json()
    queue.path.write_text(json.dumps(state))
    folder.mark_live(queue.folder)
    return run_dir


def test_the_running_item_shows_its_progress_stops_and_opens(tmp_path, app_home, preset):
    runs = tmp_path / "runs"
    run_dir = fake_running(runs, preset)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            modal = await open_queue(pilot)
            line = text(modal, "#queue-runner")
            assert f"running (pid {os.getpid()}): #1 " in line, line
            assert f"run folder {run_dir.name}, epoch 1/3, best 50.00%" in line, line
            assert modal.row_ids == [1, 2] and modal.highlighted_id == 1

            await pilot.press("d")  # the running item cannot move
            await wait_for(pilot, lambda: any("#1 is training now" in n.message for n in app._notifications), 5)
            assert ids(runs) == [2]

            await pilot.press("r")  # a second runner is refused
            await wait_for(pilot, lambda: any(f"already running (pid {os.getpid()})" in n.message
                                              for n in app._notifications), 5, "the refusal")

            await pilot.press("x")  # the stop goes to the queue folder's control file
            await wait_for(pilot, lambda: (runs / QUEUE_DIR / CONTROL_FILE).exists(), 5, "the stop")
            assert any("Stopping the queue runner" in n.message for n in app._notifications)

            await pilot.press("enter")
            await wait_for(pilot, lambda: app.session is not None, 5, "the attached session")
            assert app.session.kind == "attached" and app.session.run_dir == run_dir.resolve()
            assert app.current_mode == "training" and not isinstance(app.screen, QueueModal)
            app.session.worker.cancel()

    run(scenario())


def test_an_empty_queue_refuses_run_and_stop(tmp_path, app_home):
    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            modal = await open_queue(pilot)
            assert modal.row_ids == [] and "done: none yet" in text(modal, "#queue-done")
            await pilot.press("r")
            await wait_for(pilot, lambda: any("queue is empty" in n.message for n in app._notifications), 5)
            await pilot.press("x")
            await wait_for(pilot, lambda: any("not running" in n.message for n in app._notifications), 5)
            assert runner_pid(tmp_path / "runs") is None

    run(scenario())


def test_an_unreadable_queue_file_is_one_red_line(tmp_path, app_home):
    folder = tmp_path / "runs" / QUEUE_DIR
    folder.mkdir(parents=True)
    (folder / QUEUE_FILE).write_text("{not json")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            modal = await open_queue(pilot)
            await pilot.pause()  # laid out
            problem = modal.query_one("#queue-problem")
            line = text(modal, "#queue-problem")
            assert problem.has_class("-shown") and problem.region.height >= 1  # shown (a long path wraps)
            assert "unreadable" in line and "\n" not in line and "Traceback" not in line, line
            assert modal.row_ids == [] and "runner: not running" in text(modal, "#queue-runner")
            await pilot.press("r")  # an action on it is an error notification, not a crash
            await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), 5)
            assert app.screen is modal
        assert (folder / QUEUE_FILE).read_text() == "{not json"  # left for the user to look at

    run(scenario())
