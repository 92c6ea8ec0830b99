"""Pilot and snapshot tests of the app. No pytest-asyncio here: each pilot test runs its
coroutine with asyncio.run inside a plain test function."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from tui_trainer.app.app import TrainerApp
from tui_trainer.config import Config
from tui_trainer.workspace.fixtures import write_run_folder
from tui_trainer.workspace.notes import Notes

torch.set_num_threads(2)

TINY_PRESET = """description = "tiny app test: seed_cnn, 2 epochs"

[data]
batch_size = 128

[model]
name = "seed_cnn"
widths = [8, 16, 32]

[optimizer]
name = "adam"
lr = 0.003
weight_decay = 0.0

[schedule]
name = "cosine"

[augment]
crop_padding = 0
flip = "none"

[run]
epochs = {epochs}
seed = 1
precision = "fp32"
"""


@pytest.fixture(autouse=True)
def no_prepared_runs_screen(monkeypatch):
    """The app composes its Runs screen a second after start-up; tests that do not ask for it
    skip that work (test_runs_screen checks it)."""
    monkeypatch.setattr(TrainerApp, "PREPARE_RUNS_AFTER_S", None)


@pytest.fixture
def app_home(tmp_path, monkeypatch):
    """User presets and HOME inside tmp_path, with a tiny user preset 'tiny-app'."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("TUI_TRAINER_DATA", raising=False)
    folder = home / ".config" / "tui-trainer" / "presets"
    folder.mkdir(parents=True)
    (folder / "tiny-app.toml").write_text(TINY_PRESET.format(epochs=2))
    (folder / "tiny-long.toml").write_text(TINY_PRESET.format(epochs=4).replace("2 epochs", "4 epochs"))
    return home


@pytest.fixture(scope="session")
def small_data():
    """A smaller synthetic set than `--data synthetic`'s 5000/1000, so a run takes seconds; the
    app trains and evaluates on its cached dataset when it has one."""
    from tui_trainer.data.synthetic import make_synthetic
    return make_synthetic(n_train=1024, n_test=500)


@pytest.fixture(scope="session")
def paced_data():
    """Eight times small_data's training images, for tests that act on a run while it trains (a
    pause, resizes): on a loaded machine a 1,024-image run can end before their keys land."""
    from tui_trainer.data.synthetic import make_synthetic
    return make_synthetic(n_train=8192, n_test=200)


def make_app(tmp_path: Path, data=None) -> TrainerApp:
    app = TrainerApp("synthetic", tmp_path / "runs", "cpu")
    if data is not None:
        app.dataset = data
    return app


def run(coro):
    return asyncio.run(coro)


async def wait_for(pilot, condition, timeout: float = 60.0, what: str | Callable[[], str] = "condition") -> None:
    """`what` names the wait in a timeout's message; a callable says then what the app showed."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")
        await pilot.pause(0.05)


async def select_preset(pilot, name: str) -> None:
    """Move the preset list's cursor to `name` with the keyboard and press enter."""
    from textual.widgets import ListView

    view = pilot.app.screen.query_one("#presets", ListView)
    view.focus()
    await pilot.pause()
    names = [item.preset.name for item in view.children]
    assert name in names, names
    view.index = 0
    await pilot.pause()
    for _ in range(names.index(name)):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause(0.2)


async def start_preset(pilot, name: str):
    """Pick preset `name`, press F5 as a user would, and return the run session it starts."""
    await select_preset(pilot, name)
    await pilot.press("f5")
    await wait_for(pilot, lambda: pilot.app.session is not None, 5, "the session")
    return pilot.app.session


# Six runs of three presets with different settings and results: (name, preset, settings, accuracies).
SIX = [
    ("20261201-090000-cpu-quick", "cpu-quick", {"optimizer.lr": 0.75}, [0.60, 0.80], "baseline"),
    ("20261201-091000-cpu-quick", "cpu-quick", {"optimizer.lr": 1.5}, [0.55, 0.83], ""),
    ("20261201-092000-fast", "fast", {"optimizer.lr": 0.75, "model.widths": [48, 96, 96]}, [0.62, 0.87], "baseline"),
    ("20261201-093000-fast", "fast", {"optimizer.lr": 0.4, "model.widths": [48, 96, 96]}, [0.58, 0.85], ""),
    ("20261201-094000-seed-notebook", "seed-notebook", {"model.name": "seed_cnn"}, [0.40, 0.52, 0.61], ""),
    ("20261201-095000-bag-of-tricks", "bag-of-tricks", {"model.name": "resnet18", "optimizer.lr": 0.1}, [0.70], ""),
]


def six_runs(root):
    for name, preset, settings, accs, tag in SIX:
        cfg = Config()
        for key, value in settings.items():
            cfg.set(key, value)
        write_run_folder(root, name, cfg, accs, preset=preset, notes=Notes("", [tag]) if tag else None)
    return root
