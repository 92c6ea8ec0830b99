"""The run queue: order, edits, failures, stops, and a detached runner that outlives its starter."""
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import to_toml
from tui_trainer.presets import resolve
from tui_trainer.workspace import folder
from tui_trainer.workspace.queue import INTERRUPTED, Queue, config_sets, runner_pid

from conftest import CLI, cli_env, tiny_config


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny preset (seed_cnn 4-8-8, one epoch) and 256 + 64 synthetic images as CIFAR batches:
    a run is well under a second once torch is loaded."""
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.data.writers import write_cifar_batches

    root = tmp_path_factory.mktemp("queue-inputs")
    preset = root / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1, "model.widths": [4, 8, 8]})))
    write_cifar_batches(root / "data", make_synthetic(n_train=256, n_test=64))
    return preset, root / "data"


def queue_cli(runs, *args) -> int:
    return main(["queue", *args, "--runs", str(runs)])


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def started(run_dir) -> float:
    return json.loads((run_dir / "summary.json").read_text())["started_at"]


def stop_when_running(runs, command) -> threading.Thread:
    """Run `command(run_dir)` from another thread once the runner's current run has its folder."""
    def wait_then_stop():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = Queue(runs).snapshot().running
            if running is not None and running.run_dir:
                command(running.run_dir)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=wait_then_stop, daemon=True)
    thread.start()
    return thread


def test_queued_runs_train_one_after_another_in_queue_order(home, tmp_path, inputs, capsys):
    preset, data = inputs
    runs = tmp_path / "runs"
    for seed in (1, 2, 3):
        assert queue_cli(runs, "add", "--preset", str(preset), "--set", f"run.seed={seed}") == 0
    assert queue_cli(runs, "move", "3", "--to", "1") == 0  # 3 1 2
    assert queue_cli(runs, "move", "#2", "--up") == 0  # 3 2 1
    assert queue_cli(runs, "remove", "#2") == 0
    assert [i.id for i in Queue(runs).items()] == [3, 1]
    capsys.readouterr()

    assert queue_cli(runs, "run", "--data", str(data)) == 0
    out = capsys.readouterr().out
    assert out.index("queue: #3 ") < out.index("queue: #1 ") and "queue done: ran 2 (2 finished); 0 left" in out

    folders = sorted((p for p in runs.iterdir() if p.name != "queue"), key=started)
    assert [folder.read_config(p).run.seed for p in folders] == [3, 1]
    history = Queue(runs).history()
    assert [(d.item.id, d.state, d.run_dir) for d in history] == [(3, "finished", str(folders[0].resolve())),
                                                                  (1, "finished", str(folders[1].resolve()))]
    assert all(d.best_acc is not None and d.finished_at >= d.started_at for d in history)
    assert Queue(runs).items() == [] and runner_pid(runs) is None

    assert queue_cli(runs, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["items"] == [] and listed["runner"] is None and [d["item"]["id"] for d in listed["done"]] == [3, 1]


def test_a_detached_runner_outlives_the_command_that_started_it(home, tmp_path, inputs):
    preset, data = inputs
    runs = tmp_path / "runs"
    queue = Queue(runs)
    for seed in (1, 2):
        queue.add(str(preset), [f"run.seed={seed}"])
    proc = subprocess.run([*CLI, "queue", "run", "--detach", "--data", str(data), "--runs", str(runs)],
                          capture_output=True, text=True, env=cli_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "runner.log" in proc.stdout and "tui-trainer queue list" in proc.stdout
    pid = int(re.search(r"pid (\d+)", proc.stdout).group(1))
    try:
        deadline = time.monotonic() + 30
        while runner_pid(runs) != pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner_pid(runs) == pid, (runs / "queue" / "runner.log").read_text()
        assert os.getsid(pid) != os.getsid(0)  # its own session: a hang-up of ours never reaches it

        deadline = time.monotonic() + 180
        while runner_pid(runs) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        log = (runs / "queue" / "runner.log").read_text()
        assert runner_pid(runs) is None, log
        history = queue.history()
        assert [(d.item.id, d.state) for d in history] == [(1, "finished"), (2, "finished")], log
        for d in history:
            assert json.loads((Path(d.run_dir) / "summary.json").read_text())["state"] == "finished"
        assert queue.items() == [] and "queue done: ran 2 (2 finished)" in log
    finally:
        if runner_pid(runs) == pid:
            os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize("args,needle", [
    (["--preset", "nope"], "unknown preset 'nope' (available: "),
    (["--set", "optimizer.lr=-1"], "optimizer.lr = '-1' is invalid: expected a number from 1e-06 to 10"),
    (["--set", "optimizer.lrr=1"], "unknown key 'optimizer.lrr'"),
    (["--set", "lr"], "expected KEY=VALUE"),
    (["--epochs", "0"], "run.epochs = 0 is invalid"),
])
def test_a_bad_item_is_refused_when_added_in_one_line(home, tmp_path, inputs, capsys, args, needle):
    preset, _ = inputs
    runs = tmp_path / "runs"
    assert queue_cli(runs, "add", "--preset", str(preset)) == 0
    before = (runs / "queue" / "queue.json").read_bytes()
    capsys.readouterr()
    args = args if "--preset" in args else ["--preset", str(preset), *args]
    assert queue_cli(runs, "add", *args) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("tui-trainer queue add: ") and needle in line
    assert (runs / "queue" / "queue.json").read_bytes() == before


def test_unknown_ids_a_busy_queue_and_no_runner_are_one_line(home, tmp_path, inputs, capsys):
    preset, _ = inputs
    runs = tmp_path / "runs"
    assert queue_cli(runs, "add", "--preset", str(preset)) == 0
    capsys.readouterr()
    assert queue_cli(runs, "remove", "7") == 2
    assert "no queued item #7 (queued: #1)" in one_line(capsys.readouterr().err)
    assert queue_cli(runs, "move", "7", "--down") == 2
    assert "no queued item #7" in one_line(capsys.readouterr().err)
    assert queue_cli(runs, "stop") == 1
    assert "no queue runner is live" in one_line(capsys.readouterr().err)

    folder.mark_live(runs / "queue")  # this process, alive: a runner as far as anyone can tell
    try:
        assert queue_cli(runs, "run", "--data", "synthetic") == 1
        assert f"already being run by pid {os.getpid()}" in one_line(capsys.readouterr().err)
    finally:
        folder.clear_live(runs / "queue")
    assert [i.id for i in Queue(runs).items()] == [1]

    torn = b'{"version": 1, "items": [{"id": '
    (runs / "queue" / "queue.json").write_bytes(torn)
    capsys.readouterr()
    for args in (["list"], ["add", "--preset", str(preset)]):
        assert queue_cli(runs, *args) == 1  # not bad input: the file it keeps, which it never overwrites
        assert "queue.json is unreadable" in one_line(capsys.readouterr().err)
    assert (runs / "queue" / "queue.json").read_bytes() == torn


def test_a_failing_item_is_recorded_and_the_next_one_still_runs(home, tmp_path, inputs, capsys):
    preset, data = inputs
    runs = tmp_path / "runs"
    gone = tmp_path / "gone.toml"
    gone.write_text(preset.read_text())
    assert queue_cli(runs, "add", "--preset", str(preset), "--set", "data.dataset=folders") == 0  # not in the data
    assert queue_cli(runs, "add", "--preset", str(gone)) == 0
    gone.unlink()  # after it was queued: its turn finds no preset
    assert queue_cli(runs, "add", "--preset", str(preset)) == 0
    capsys.readouterr()

    assert queue_cli(runs, "run", "--data", str(data)) == 1
    assert "ran 3 (2 failed, 1 finished); 0 left" in capsys.readouterr().out
    no_folders, no_preset, good = Queue(runs).history()
    assert no_folders.state == "failed" and "data.dataset=folders" in no_folders.message
    assert no_folders.run_dir is None and len(list(runs.iterdir())) == 2  # refused before a folder: queue/ and good's
    assert no_preset.state == "failed" and no_preset.run_dir is None and "gone.toml does not exist" in no_preset.message
    assert good.state == "finished" and good.best_acc is not None


def test_queue_stop_stops_the_current_run_with_last_pt_and_keeps_the_rest(home, tmp_path, inputs, capsys):
    preset, data = inputs
    runs = tmp_path / "runs"
    assert queue_cli(runs, "add", "--preset", str(preset), "--epochs", "300") == 0  # far longer than the test
    assert queue_cli(runs, "add", "--preset", str(preset)) == 0
    stopper = stop_when_running(runs, lambda run_dir: queue_cli(runs, "stop"))

    assert queue_cli(runs, "run", "--data", str(data)) == 130
    stopper.join()
    assert "queue stopped: ran 1 (1 stopped); 1 left queued" in capsys.readouterr().out
    [stopped] = Queue(runs).history()
    run_dir = Path(stopped.run_dir)
    assert stopped.state == "stopped" and (run_dir / "checkpoints" / "last.pt").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "stopped"
    assert [i.id for i in Queue(runs).items()] == [2] and runner_pid(runs) is None
    capsys.readouterr()
    assert queue_cli(runs, "list") == 0
    listed = capsys.readouterr().out
    # (with "best ..." between them when an epoch ended before the stop came)
    assert "runner: not running" in listed and " 1. #2  " in listed and "#1  stopped  " in listed
    assert str(run_dir) in listed


def test_stopping_the_run_itself_skips_it_and_the_queue_goes_on(home, tmp_path, inputs, capsys):
    preset, data = inputs
    runs = tmp_path / "runs"
    assert queue_cli(runs, "add", "--preset", str(preset), "--epochs", "300") == 0
    assert queue_cli(runs, "add", "--preset", str(preset)) == 0
    stopper = stop_when_running(runs, lambda run_dir: main(["stop", run_dir]))

    assert queue_cli(runs, "run", "--data", str(data)) == 0
    stopper.join()
    assert [(d.item.id, d.state) for d in Queue(runs).history()] == [(1, "stopped"), (2, "finished")]


def test_concurrent_edits_are_never_lost(home, tmp_path, inputs):
    preset, _ = inputs
    runs = tmp_path / "runs"

    def add_ten():
        queue = Queue(runs)  # its own lock file handle, as another process would have
        for _ in range(10):
            queue.add(str(preset))

    threads = [threading.Thread(target=add_ten) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i.id for i in Queue(runs).items()) == list(range(1, 41))


def test_a_run_whose_runner_died_shows_as_interrupted(home, tmp_path, inputs):
    preset, _ = inputs
    runs = tmp_path / "runs"
    queue = Queue(runs)
    queue.add(str(preset))
    queue.add(str(preset))
    queue.claim()
    queue.pop_next()
    queue.record_run_dir(runs / "20261201-120000-tiny")
    folder.clear_live(runs / "queue")  # as if killed: no release
    state = queue.snapshot()
    assert state.running is None and state.done[-1].state == INTERRUPTED
    assert "train --resume" in state.done[-1].message and [i.id for i in state.items] == [2]
    queue.claim()  # the next runner records it so
    queue.release()
    assert [d.state for d in queue.history()] == [INTERRUPTED]


def test_config_sets_rebuild_an_edited_config_from_its_preset(inputs):
    preset, _ = inputs
    base, _ = resolve(str(preset))
    edited = base.copy()
    for key, value in {"optimizer.lr": 0.0123, "model.widths": [8, 16, 16], "run.tta": True,
                       "augment.flip": "none", "data.mean": [0.5, 0.5, 0.5]}.items():
        edited.set(key, value)
    sets = config_sets(base, edited)
    assert len(sets) == 5 and resolve(str(preset), sets)[0] == edited
