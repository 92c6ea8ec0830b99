"""Nothing lost: kills at any moment, Ctrl-C/SIGTERM, hostile checkpoints, a full disk, bad data."""
import errno
import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tui_trainer.config import to_toml
from tui_trainer.data import load_dataset
from tui_trainer.data.writers import write_cifar_batches
from tui_trainer.events import RunFailed
from tui_trainer.training import checkpoints
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import folder

from conftest import CLI, cli_env, tiny_config


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic):
    """A finished one-epoch run folder."""
    root = tmp_path_factory.mktemp("trained")
    result = Trainer(tiny_config(**{"run.epochs": 1}), data="synthetic", runs_dir=root, dataset=synthetic).run()
    return Path(result.run_dir)


def start_training(home, preset: Path, runs_dir: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs_dir),
                             "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(home))


def resume_training(home, run_dir: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "train", "--resume", str(run_dir), "--data", "synthetic", "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home))


def wait_for(predicate, timeout=180.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def assert_intact(run_dir: Path) -> int:
    """Every checkpoint loads and metrics.csv holds only whole lines; returns the last.pt epoch."""
    for path in (run_dir / "checkpoints").glob("*.pt"):
        checkpoints.load(path)
    text = (run_dir / folder.METRICS).read_text() if (run_dir / folder.METRICS).exists() else ""
    assert text == "" or text.endswith("\n"), "torn metrics line"
    assert len(text.splitlines()) == (len(folder.read_metrics(run_dir)) + 1 if text else 0)
    return checkpoints.load(run_dir / "checkpoints" / "last.pt")["epoch"]


def test_sigkill_at_any_moment_leaves_loadable_checkpoints_and_whole_metrics(home, tmp_path):
    # A wide FC layer after cheap convs makes last.pt ~15 MB, so its write lasts long enough to be
    # caught mid-way, in epochs of a few seconds.
    preset = tmp_path / "crash.toml"
    preset.write_text(to_toml(tiny_config(**{"model.widths": [4, 4, 192], "data.batch_size": 128, "run.epochs": 40})))
    runs_dir = tmp_path / "runs"
    proc = start_training(home, preset, runs_dir)
    assert wait_for(lambda: any(runs_dir.glob("*/checkpoints/last.pt"))), proc.stderr.read() if proc.poll() else ""
    run_dir = next(runs_dir.iterdir())
    ckpt_dir = run_dir / "checkpoints"

    def writing_checkpoint():
        return any(name.startswith(".") and ".tmp" in name for name in os.listdir(ckpt_dir))

    def metrics_size():
        return (run_dir / folder.METRICS).stat().st_size if (run_dir / folder.METRICS).exists() else 0

    def catch_a_checkpoint_write():
        # The epoch's row lands just before its checkpoints are written: poll slowly for the row,
        # then fast for the write (a fast poll all epoch long would take a core from the run).
        for _ in range(5):
            size = metrics_size()
            assert wait_for(lambda: metrics_size() > size, timeout=120), "no epoch ended"
            if wait_for(writing_checkpoint, timeout=3, interval=0.0005):
                return True
        return False

    # Three kills: during a checkpoint write, at an arbitrary moment mid-epoch, during a write again.
    epochs_seen = []
    for how in ("during write", "mid-epoch", "during write"):
        if how == "during write":
            assert catch_a_checkpoint_write(), "never saw a checkpoint being written"
        else:
            time.sleep(1.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        epochs_seen.append(assert_intact(run_dir))
        proc = resume_training(home, run_dir)
        assert wait_for(lambda: (run_dir / folder.LIVE).exists() and folder.live_pid(run_dir) == proc.pid, timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    last = assert_intact(run_dir)

    # The run then resumes to its end with one row per epoch, in order.
    done = subprocess.run([*CLI, "train", "--resume", str(run_dir), "--data", "synthetic", "--epochs", str(last + 1),
                           "--json"], capture_output=True, text=True, env=cli_env(home), timeout=300)
    assert done.returncode == 0, done.stderr
    assert [m.epoch for m in folder.read_metrics(run_dir)] == list(range(1, last + 2))
    assert not [p for p in ckpt_dir.iterdir() if ".tmp" in p.name]
    assert epochs_seen == sorted(epochs_seen)


@pytest.mark.parametrize("sig,as_json", [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_ctrl_c_and_sigterm_stop_at_a_step_and_save_last(home, tmp_path, sig, as_json):
    preset = tmp_path / "stop.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 30})))
    runs_dir = tmp_path / "runs"
    args = [*CLI, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs_dir)]
    proc = subprocess.Popen(args + (["--json"] if as_json else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(home))
    for line in proc.stdout:  # the first finished epoch
        if line.startswith(("epoch", '{"event": "epoch"')):
            break
    else:
        pytest.fail(proc.stderr.read())
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping at the next step and saving last.pt" in err
    run_dir = next(runs_dir.iterdir())
    state = checkpoints.load(run_dir / "checkpoints" / "last.pt")
    assert state["epoch"] >= 1
    if as_json:
        final = json.loads(out.splitlines()[-1])
        assert final["stopped"] is True and final["run_dir"] == str(run_dir)
    else:
        assert f"resume with: tui-trainer train --resume {run_dir}" in out
    assert folder.live_pid(run_dir) is None


class RunsCode:
    """Unpickling this would create a file: proof of code execution."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_files(tmp_path: Path, trained: Path) -> dict[str, Path]:
    good = (trained / "checkpoints" / "best.pt").read_bytes()
    files = {}

    def put(name: str, data: bytes) -> None:
        files[name] = tmp_path / f"{name}.pt"
        files[name].write_bytes(data)

    put("truncated", good[: len(good) // 2])
    put("random", os.urandom(4096))
    put("text", b"[run]\nepochs = 3\n")
    other = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), other)
    files["another-program"] = other
    payload = checkpoints.load(trained / "checkpoints" / "best.pt")
    payload["model"] = {**payload["model"], "name": "airbench"}
    files["another-model"] = tmp_path / "another-model.pt"
    torch.save(payload, files["another-model"])
    files["code-zip"] = tmp_path / "code-zip.pt"
    torch.save({"format": checkpoints.FORMAT, "x": RunsCode(tmp_path / "pwned-zip")}, files["code-zip"])
    put("code-pickle", pickle.dumps(RunsCode(tmp_path / "pwned-pickle")))
    return files


def test_hostile_and_broken_checkpoints_exit_1_with_one_line_and_run_no_code(home, tmp_path, trained):
    for name, path in hostile_files(tmp_path, trained).items():
        proc = subprocess.run([*CLI, "eval", str(path), "--data", "synthetic"], capture_output=True, text=True,
                              env=cli_env(home), timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert str(path) in lines[0], name
    assert not list(tmp_path.glob("pwned*")), "code from a checkpoint ran"


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, synthetic, monkeypatch):
    real_save = torch.save
    calls = []

    def disk_fills_up(obj, f):
        calls.append(1)
        if len(calls) == 1:  # epoch 1's last.pt fits (no best.pt before epoch 5), epoch 2's does not
            return real_save(obj, f)
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints.torch, "save", disk_fills_up)
    result = Trainer(tiny_config(**{"run.epochs": 3, "run.best_after_epoch": 5}), data="synthetic", runs_dir=tmp_path,
                     dataset=synthetic).run()
    monkeypatch.undo()
    assert isinstance(result, RunFailed)
    assert "No space left on device" in result.message and "the previous last.pt is kept" in result.message
    run_dir = Path(result.run_dir)
    assert checkpoints.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 1
    assert not [p for p in (run_dir / "checkpoints").iterdir() if ".tmp" in p.name]


def test_corrupt_data_is_one_clear_line(home, tmp_path, synthetic):
    folder = write_cifar_batches(tmp_path / "cifar", synthetic)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    proc = subprocess.run([*CLI, "train", "--preset", "cpu-quick", "--data", str(tmp_path / "cifar"), "--runs",
                           str(tmp_path / "runs")], capture_output=True, text=True, env=cli_env(home), timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "data_batch_3" in lines[0], proc.stderr

    empty = tmp_path / "folders"
    for split in ("train", "test"):
        (empty / split / "cat").mkdir(parents=True)
    proc = subprocess.run([*CLI, "train", "--preset", "cpu-quick", "--data", str(empty), "--runs", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=cli_env(home), timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "no images" in lines[0], proc.stderr
