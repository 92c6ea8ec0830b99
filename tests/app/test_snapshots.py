"""Snapshots of the three screens at 120x40 with deterministic content.

Update after an intended change with `pytest tests/app/test_snapshots.py --snapshot-update` and
look at the SVGs. They depend on the Textual version (pinned in pyproject.toml)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer import locations
from tui_trainer.app.app import TrainerApp
from tui_trainer.app.screens.runs import RunsScreen
from tui_trainer.app.widgets.checkpoint_pane import EvalDone
from tui_trainer.app.widgets.overlay_plot import OverlayPlot
from tui_trainer.config import Config
from tui_trainer.events import BatchProgress, CheckpointSaved, EpochEnded, RunStarted
from tui_trainer.training.evaluate import EvalResult, Mistake
from tui_trainer.training.schedules import lr_at

from .conftest import SIX, TINY_PRESET, six_runs, wait_for

SIZE = (120, 40)
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def fixed_presets(tmp_path, monkeypatch):
    """One built-in preset and no user presets, whatever the repository holds."""
    builtin = tmp_path / "builtin"
    builtin.mkdir()
    (builtin / "demo.toml").write_text(TINY_PRESET.format(epochs=30).replace(
        "tiny app test: seed_cnn, 2 epochs", "demo: a small CNN, Adam, cosine, 30 epochs"))
    monkeypatch.setattr(locations, "builtin_presets", lambda: builtin)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.chdir(tmp_path)
    return builtin


def snapshot_app() -> TrainerApp:
    """Runs folder given relative to the test's working folder, so no tmp path is drawn."""
    return TrainerApp("synthetic", Path("runs"), "cpu")


def demo_config() -> Config:
    cfg = Config(description="demo")
    for key, value in {"model.name": "seed_cnn", "data.batch_size": 128, "optimizer.name": "adam",
                       "optimizer.lr": 0.003, "schedule.name": "onecycle", "run.epochs": 8,
                       "run.precision": "fp32"}.items():
        cfg.set(key, value)
    return cfg


def demo_epochs(n: int, scale: float = 1.0) -> list[EpochEnded]:
    out = []
    for i in range(1, n + 1):
        acc = min(0.99, scale * (0.35 + 0.55 * (1 - 0.6 ** i)))
        out.append(EpochEnded(epoch=i, train_loss=round(2.0 * 0.7 ** i, 4), train_acc=round(acc - 0.03, 4),
                              test_loss=round(2.1 * 0.72 ** i, 4), test_acc=round(acc, 4),
                              lr=lr_at(demo_config().schedule, 0.003, i * 39 - 1, 39, 8 * 39), seconds=12.5 + i / 10,
                              images_per_s=4000.0 + 10 * i, is_best=True))
    return out


def test_setup_screen(snap_compare, fixed_presets):
    async def before(pilot):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await wait_for(pilot, lambda: "counting" not in str(pilot.app.screen.query_one("#params").render()), 30)
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=before)


def test_training_screen(snap_compare, fixed_presets):
    cfg = demo_config()
    events = [RunStarted("runs/20240101-120000-demo", cfg.to_dict(), "cpu (fp32)", "fp32", 123_456, 39, 0, CLASSES)]
    for e in demo_epochs(5):
        for step in range(0, 39, 3):
            lr = lr_at(cfg.schedule, cfg.optimizer.lr, (e.epoch - 1) * 39 + step, 39, 8 * 39)
            events.append(BatchProgress(e.epoch, step + 1, 39, e.train_loss * 1.1, lr, 3900.0))
        events += [e, CheckpointSaved("runs/20240101-120000-demo/checkpoints/best.pt", e.epoch, "best")]
    events.append(BatchProgress(6, 13, 39, 0.31, lr_at(cfg.schedule, cfg.optimizer.lr, 5 * 39 + 12, 39, 8 * 39), 4012.0))

    async def before(pilot):
        pilot.app.replay(events, elapsed=75.0)
        await pilot.press("f2")
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=before)


def test_runs_screen(snap_compare, fixed_presets):
    from tui_trainer.data.synthetic import make_synthetic

    root = six_runs(fixed_presets.parent / "runs")
    newest = root / SIX[-1][0]
    (newest / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint\n" * 64)
    images = make_synthetic(n_train=10, n_test=12, seed=3).test_x.numpy()
    confusion = [[90 if i == j else (3 if (i + j) % 3 == 0 else 0) for j in range(10)] for i in range(10)]
    per_class = [row[i] / sum(row) for i, row in enumerate(confusion)]
    correct = sum(confusion[i][i] for i in range(10))
    total = sum(map(sum, confusion))
    worst = [Mistake(index=i, true=i % 10, predicted=(i * 3 + 1) % 10, confidence=0.99 - i * 0.04) for i in range(6)]
    result = EvalResult(accuracy=correct / total, loss=0.4321, n=total, per_class=per_class, confusion=confusion,
                        classes=CLASSES, worst=worst)

    async def before(pilot):
        app = pilot.app
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: len(screen.runs) == 6 and screen.checkpoint_infos, 30)
        await pilot.press("space", "down", "down", "space", "down", "space", "up", "up", "up")
        await wait_for(pilot, lambda: len(screen.query_one(OverlayPlot).drawn_series()) == 3, 30)
        await wait_for(pilot, lambda: screen.current.name == newest.name and screen.checkpoint_infos, 30)
        screen.checkpoints.post_message(EvalDone(Path("runs", newest.name, "checkpoints", "best.pt"), result,
                                     [images[m.index] for m in worst]))
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=before)
