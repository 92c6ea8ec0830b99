"""The app's pure helpers: log ticks, downsampling, schedule samples."""
from __future__ import annotations

import math


from tui_trainer.app.session import RunSession, Series, thin
from tui_trainer.app.widgets.confusion import abbreviations
from tui_trainer.app.widgets.lr_plot import schedule_points
from tui_trainer.config import Config
from tui_trainer.events import BatchProgress, EpochEnded
from tui_trainer.log_axis import log_ticks
from tui_trainer.training.schedules import lr_curve


def test_log_ticks_label_decades_and_stay_in_range():
    ticks, labels = log_ticks(-5, -1)
    assert labels == ["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"]
    ticks, labels = log_ticks(math.log10(9e-4), math.log10(4e-3))
    assert labels == ["1e-3", "2e-3"] and all(math.log10(9e-4) <= t <= math.log10(4e-3) for t in ticks)


def test_series_and_thin_keep_per_batch_data_bounded():
    s = Series(limit=300)
    for i in range(100_000):
        s.append(i, i)
    assert 300 <= len(s) < 600 and s.xs == sorted(s.xs)
    xs, ys = thin(list(range(1000)), list(range(1000)), 300)
    assert len(xs) == 300 and xs[0] == 0 and xs[-1] == 999


def test_schedule_samples_are_the_engine_curve():
    cfg = Config()
    cfg.schedule.name = "step"
    cfg.schedule.milestones = [3.0, 6.0]
    cfg.run.epochs = 10
    full = lr_curve(cfg.schedule, cfg.optimizer.lr, cfg.run.epochs, 100)
    xs, ys = schedule_points(cfg, 100)
    assert len(xs) <= 310
    for x, y in zip(xs, ys):
        assert y == full[round(x * 100)]
    assert {round(y, 6) for y in ys} == {round(y, 6) for y in full}  # every step of the staircase is drawn


def test_confusion_labels_are_unique():
    assert abbreviations(["stripes-h", "stripes-v", "blob"]) == ["st-h", "st-v", "blob"]
    assert abbreviations(["airplane", "automobile"]) == ["airp", "auto"]


def test_session_eta_and_best_come_from_events():
    now = [0.0]
    session = RunSession("replay", clock=lambda: now[0])
    from tui_trainer.events import RunStarted
    cfg = Config()
    cfg.run.epochs = 4
    session.record(RunStarted("r", cfg.to_dict(), "cpu", "fp32", 1, 10, 0, ["a"]))
    now[0] = 10.0
    session.record(EpochEnded(1, 1.0, 0.5, 1.0, 0.6, 0.1, 9.0, 100.0, True))
    session.record(BatchProgress(2, 5, 10, 0.9, 0.1, 100.0))
    assert session.best_acc == 0.6 and session.done_epochs() == 1.5
    assert session.eta() == (4 - 1.5) * 10.0 / 1.5
