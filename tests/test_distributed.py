"""Runs on two processes: torchrun's launcher, gloo on this CPU, one run folder written by rank 0.

Every test here starts real processes (the launcher and its ranks, or two torchrun agents), so the
data is small: 4,096 synthetic training images in a CIFAR folder, batch 32 split over 2 ranks: 128
steps an epoch, so a signal sent once epoch 2 is under way lands well before the run ends on a
fast machine (with 32 steps, the run finished first and the signal hit its teardown).
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import torch

from tui_trainer.cli import main
from tui_trainer.config import to_toml
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.data.writers import write_cifar_batches
from tui_trainer.training.evaluate import evaluate_checkpoint
from tui_trainer.workspace import folder

from conftest import CLI, ROOT, cli_env, tiny_config

EPOCHS = 2
BATCH = 32
TRAIN = 4096
STEPS = TRAIN // BATCH  # an epoch's
# Metrics of a resumed 2-process run against the uninterrupted one. The ranks' sums are reduced in
# a fixed order, so on one machine they come out equal to the last bit or nearly; this allows
# float reassociation in the resumed epoch's partial sums (stored as Python floats in last.pt).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A data folder, a preset and a home shared by this module's folder."""
    root = tmp_path_factory.mktemp("ddp")
    write_cifar_batches(root / "data", make_synthetic(n_train=TRAIN, n_test=500, seed=4))
    (root / "tiny.toml").write_text(to_toml(tiny_config(**{"run.epochs": EPOCHS, "data.batch_size": BATCH})))
    (root / "home").mkdir()
    return root


def train(place: Path, *args: str, runs_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "train", *args, "--runs", str(runs_dir)], capture_output=True, text=True,
                          env=cli_env(place / "home"), cwd=place, timeout=timeout)


def new_run(place: Path, runs_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "train", "--preset", "tiny.toml", "--data", str(place / "data"),
                             "--runs", str(runs_dir), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(place / "home"), cwd=place)


def only_run(runs_dir: Path) -> Path:
    folders = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


def wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def batch_progress(run_dir: Path, epoch: int) -> bool:
    events, _ = folder.read_events(run_dir)
    return any(type(e).__name__ == "BatchProgress" and e.epoch == epoch and e.step >= 9 for e in events)


def rank_process(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    def find():
        kids = psutil.Process(launcher.pid).children()
        return next((k for k in kids if k.environ().get("RANK") == str(rank)), None)
    wait_for(lambda: find() is not None, what=f"rank {rank}")
    return find()


@pytest.fixture(scope="module")
def two_process_run(place):
    """One uninterrupted `--nproc 2` run, the reference of this module's tests."""
    runs_dir = place / "runs-whole"
    proc = train(place, "--preset", "tiny.toml", "--data", str(place / "data"), "--nproc", "2", "--json",
                 runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    return only_run(runs_dir), proc


def test_two_processes_write_one_run_folder_whose_checkpoints_evaluate_alone(two_process_run, place):
    run_dir, proc = two_process_run
    metrics = folder.read_metrics(run_dir)
    assert [m.epoch for m in metrics] == list(range(1, EPOCHS + 1))  # each epoch once, by rank 0
    assert metrics[-1].test_acc > 0.5  # ten classes: chance is 0.1
    events, _ = folder.read_events(run_dir)
    started = [e for e in events if type(e).__name__ == "RunStarted"]
    assert len(started) == 1 and started[0].device.endswith("x 2 processes")
    assert sum(type(e).__name__ == "EpochEnded" for e in events) == EPOCHS
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["best_acc"] == max(m.test_acc for m in metrics)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["state"] == "finished" and summary["epochs_done"] == EPOCHS
    assert not list(run_dir.glob("error*.log")) and proc.stderr.strip() == ""
    # The unwrapped state dict in today's format: loads without pickled code, evaluates alone.
    best = run_dir / "checkpoints" / "best.pt"
    payload = torch.load(best, weights_only=True)
    assert not any(k.startswith("module.") for k in payload["model"])
    single = evaluate_checkpoint(best, str(place / "data"), "cpu")
    assert single.n == 500 and single.accuracy == pytest.approx(final["best_acc"], abs=0.002)


def test_a_stop_mid_epoch_resumed_on_two_processes_repeats_the_uninterrupted_run(two_process_run, place):
    whole = folder.read_metrics(two_process_run[0])
    runs_dir = place / "runs-stopped"
    proc = new_run(place, runs_dir, "--nproc", "2")
    wait_for(lambda: runs_dir.is_dir() and any(runs_dir.iterdir()), what="the run folder")
    run_dir = only_run(runs_dir)
    wait_for(lambda: batch_progress(run_dir, 2), what="epoch 2 under way")
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the launcher's agent passes it on to the ranks
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"resume with: tui-trainer train --resume {run_dir}" in out
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "stopped"
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and 0 < last["step"] < STEPS  # part-way through epoch 2, once for both ranks
    resumed = train(place, "--resume", str(run_dir), "--nproc", "2", runs_dir=runs_dir)
    assert resumed.returncode == 0, resumed.stderr
    again = folder.read_metrics(run_dir)
    assert [m.epoch for m in again] == [m.epoch for m in whole]
    for a, b in zip(again, whole):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), abs=TOLERANCE), (a.epoch, key)


def test_a_rank_killed_ends_the_run_in_one_line_and_it_resumes_on_one_process(place):
    runs_dir = place / "runs-killed"
    proc = new_run(place, runs_dir, "--nproc", "2")
    wait_for(lambda: runs_dir.is_dir() and any(runs_dir.iterdir()), what="the run folder")
    run_dir = only_run(runs_dir)
    wait_for(lambda: batch_progress(run_dir, 2), what="epoch 2 under way")
    victim = rank_process(proc, 1)
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=90)
    assert time.monotonic() - killed_at < 60
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("tui-trainer")]
    assert lines[-1] == (f"tui-trainer train: rank 1 (pid {victim.pid}) was killed by SIGKILL; the other "
                         f"processes were stopped, last.pt is kept; resume with: tui-trainer train --resume "
                         f"{run_dir} --nproc 2")
    assert "Traceback" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["state"] == "failed" and "rank 1" in summary["message"]
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    # A 2-process run resumed on one process: the batch is global, so the recipe is the same.
    resumed = train(place, "--resume", str(run_dir), runs_dir=runs_dir)
    assert resumed.returncode == 0, resumed.stderr
    metrics = folder.read_metrics(run_dir)
    assert [m.epoch for m in metrics] == list(range(1, EPOCHS + 1)) and metrics[-1].test_acc > 0.5


def test_the_readmes_torchrun_lines_run_two_machines_here(place):
    """Two torchrun agents, one process each, meeting at a c10d endpoint on 127.0.0.1: the README's
    multi-machine lines with HOST replaced."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(# on every machine.*?)```", readme, re.S).group(1)
    line = next(part for part in block.splitlines() if part.startswith("torchrun"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = (line.replace("HOST:29400", f"127.0.0.1:{port}").replace("--nproc-per-node 4", "--nproc-per-node 1")
            .replace("DIR", str(place / "data")).replace("gpu-96", "tiny.toml"))
    assert "--nnodes 2" in line and "--rdzv-backend c10d" in line, line
    runs_dir = place / "runs-torchrun"
    torchrun = str(Path(CLI[0]).with_name("torchrun"))
    command = line.split()
    command[0] = torchrun
    command += ["--epochs", "1", "--runs", str(runs_dir)]
    env = cli_env(place / "home")
    agents = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=place) for _ in range(2)]
    outputs = [a.communicate(timeout=180) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], [o[1][-2000:] for o in outputs]
    run_dir = only_run(runs_dir)
    assert [m.epoch for m in folder.read_metrics(run_dir)] == [1]
    assert json.loads((run_dir / "summary.json").read_text())["device"].endswith("x 2 processes")


@pytest.mark.parametrize("args, said", [
    (["--set", "data.batch_size=63", "--nproc", "2"],
     "data.batch_size 63 does not split over 2 processes: give a batch size divisible by 2"),
    (["--set", "run.sync_bn=true", "--nproc", "2"], "run.sync_bn needs CUDA"),
    (["--nproc", str(len(os.sched_getaffinity(0)) + 1)], "CPU cores, and each process needs one"),
    (["--nproc", "two"], "--nproc 'two' is invalid"),
])
def test_what_several_processes_refuse_is_one_line_and_exit_2(place, tmp_path, capsys, args, said):
    # In this process: the refusals come before any process is started.
    code = main(["train", "--preset", str(place / "tiny.toml"), "--data", "synthetic", *args,
                 "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_rendezvous_port_in_use_is_one_line(place, tmp_path, capsys):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code = main(["train", "--preset", str(place / "tiny.toml"), "--data", "synthetic", "--nproc", "2",
                     "--port", str(port), "--runs", str(tmp_path / "runs")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"tui-trainer train: --port {port}: Address already in use (another run or program holds it); "
        f"choose another port, or leave --port out for a free one")


def test_a_divergence_on_two_processes_ends_both_with_one_message(place, tmp_path):
    proc = train(place, "--preset", "tiny.toml", "--data", str(place / "data"), "--nproc", "2",
                 "--set", "optimizer.name=sgd", "--set", "optimizer.lr=10", "--set", "schedule.name=constant", runs_dir=tmp_path / "runs")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-trainer train: training diverged"), proc.stderr
    run_dir = only_run(tmp_path / "runs")
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "failed"
