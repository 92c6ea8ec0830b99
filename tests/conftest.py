import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.config import Config

ROOT = Path(__file__).resolve().parent.parent

# The suite assumes a CPU: exact resume checks, `--nproc 2` on one machine, the CPU's wording in
# refusals. On a GPU machine it hides the GPUs from this process and every process it starts,
# unless TUI_TRAINER_TEST_GPU=1 asks for the GPU tests (tests/test_gpu_path.py).
if not os.environ.get("TUI_TRAINER_TEST_GPU"):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def tiny_config(**overrides) -> Config:
    """seed_cnn at half its widths on synthetic data: about 3 s an epoch on 2 cores, and well
    above chance after one (97-98%)."""
    cfg = Config(description="tiny test run")
    for key, value in {"model.name": "seed_cnn", "model.widths": [8, 16, 32], "data.batch_size": 64,
                       "optimizer.name": "adam",
                       "optimizer.lr": 2e-3, "optimizer.weight_decay": 0.0, "schedule.name": "cosine",
                       "augment.crop_padding": 2, "run.epochs": 2, "run.seed": 1, **overrides}.items():
        cfg.set(key, value)
    return cfg


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Isolate user presets and default data from the developer's own."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.delenv("TUI_TRAINER_DATA", raising=False)
    return tmp_path / "home"


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONUNBUFFERED="1")
    env.pop("TUI_TRAINER_DATA", None)
    return env


CLI = [sys.executable, "-m", "tui_trainer"]


def run_cli(home, *args, timeout=240):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(home), timeout=timeout)


def one_line_error(proc, code):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Caches (decoded image folders) go to the test's folder, never to the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
