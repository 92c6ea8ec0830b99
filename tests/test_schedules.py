import math

import pytest
import torch

from tui_trainer.config import SCHEDULES, ScheduleConfig
from tui_trainer.training.schedules import describe, lr_at, lr_curve

SPE = 10  # steps per epoch
EPOCHS = 10
TOTAL = SPE * EPOCHS


def at(step, lr=1.0, **kw):
    return lr_at(ScheduleConfig(**kw), lr, step, SPE, TOTAL)


def test_constant():
    assert [at(s, lr=0.3, name="constant") for s in (0, 50, TOTAL - 1)] == [0.3, 0.3, 0.3]


def test_step_milestones():
    kw = dict(name="step", milestones=[3.0, 6.5], gamma=0.1)
    assert at(29, **kw) == 1.0
    assert at(30, **kw) == pytest.approx(0.1)
    assert at(64, **kw) == pytest.approx(0.1)
    assert at(65, **kw) == pytest.approx(0.01)
    assert at(TOTAL - 1, **kw) == pytest.approx(0.01)


def test_cosine_with_warmup():
    kw = dict(name="cosine", warmup_epochs=2, final_lr_factor=0.1)
    assert at(0, **kw) == 0.0
    assert at(10, **kw) == pytest.approx(0.5)  # halfway through the 20-step warmup
    assert at(20, **kw) == pytest.approx(1.0)
    assert at(60, **kw) == pytest.approx(0.55)  # cosine midpoint: halfway between 1 and 0.1
    assert at(40, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert at(TOTAL, **kw) == pytest.approx(0.1)


def test_cosine_without_warmup_starts_at_peak():
    kw = dict(name="cosine", warmup_epochs=0, final_lr_factor=0.0)
    assert at(0, lr=0.4, **kw) == pytest.approx(0.4)
    assert at(50, lr=0.4, **kw) == pytest.approx(0.2)
    assert at(TOTAL, lr=0.4, **kw) == pytest.approx(0.0, abs=1e-12)


def test_onecycle_default_warmup_is_a_quarter():
    kw = dict(name="onecycle", warmup_epochs=0, final_lr_factor=0.01)
    assert at(0, **kw) == pytest.approx(1 / 25)
    assert at(25, **kw) == pytest.approx(1.0)
    assert at(24, **kw) == pytest.approx(1 / 25 + (1 - 1 / 25) * 24 / 25)
    assert at(25 + 75 // 2, **kw) < at(25 + 75 // 2 - 1, **kw)
    assert at(TOTAL, **kw) == pytest.approx(0.01)


def test_onecycle_explicit_warmup_and_midpoint():
    kw = dict(name="onecycle", warmup_epochs=2, final_lr_factor=0.0)
    assert at(0, **kw) == pytest.approx(0.04)
    assert at(20, **kw) == pytest.approx(1.0)
    assert at(60, **kw) == pytest.approx(0.5)
    assert at(TOTAL, **kw) == pytest.approx(0.0, abs=1e-12)


def test_linear_warmup_then_decay():
    kw = dict(name="linear", warmup_epochs=2, final_lr_factor=0.2)
    assert at(0, **kw) == 0.0
    assert at(5, **kw) == pytest.approx(0.25)
    assert at(20, **kw) == pytest.approx(1.0)
    assert at(60, **kw) == pytest.approx(0.6)
    assert at(TOTAL, **kw) == pytest.approx(0.2)


@pytest.mark.parametrize("cycle_epochs,spe", [(2.0, 10), (1.5, 7), (0.5, 3)])
def test_triangular2_matches_torch_cycliclr(cycle_epochs, spe):
    lr = 0.1
    cfg = ScheduleConfig(name="triangular2", cycle_epochs=cycle_epochs, base_lr_factor=0.3, max_lr_factor=4.0)
    up = cycle_epochs * spe
    steps = int(2 * up * 3.5)  # three and a half full cycles
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=lr * 0.3, max_lr=lr * 4.0, step_size_up=up,
                                              mode="triangular2", cycle_momentum=False)
    for step in range(steps):
        expected = opt.param_groups[0]["lr"]
        assert lr_at(cfg, lr, step, spe, steps) == pytest.approx(expected, rel=1e-9, abs=0)
        opt.step()
        sched.step()


def test_triangular2_amplitude_halves():
    kw = dict(name="triangular2", cycle_epochs=1, base_lr_factor=0.5, max_lr_factor=2.0)
    assert at(0, **kw) == pytest.approx(0.5)
    assert at(10, **kw) == pytest.approx(2.0)
    assert at(20, **kw) == pytest.approx(0.5)
    assert at(30, **kw) == pytest.approx(0.5 + 1.5 / 2)
    assert at(50, **kw) == pytest.approx(0.5 + 1.5 / 4)


@pytest.mark.parametrize("name", SCHEDULES)
def test_curve_length_and_nonnegative(name):
    cfg = ScheduleConfig(name=name, warmup_epochs=1.5, milestones=[2, 4], final_lr_factor=0.0)
    curve = lr_curve(cfg, 0.05, epochs=7, steps_per_epoch=13)
    assert len(curve) == 7 * 13
    assert min(curve) >= 0.0
    assert max(curve) <= 0.05 * cfg.max_lr_factor + 1e-12


@pytest.mark.parametrize("name", SCHEDULES)
def test_warmup_longer_than_run_stays_finite(name):
    cfg = ScheduleConfig(name=name, warmup_epochs=50)
    curve = lr_curve(cfg, 0.1, epochs=2, steps_per_epoch=5)
    assert all(math.isfinite(v) and v >= 0 for v in curve)


@pytest.mark.parametrize("name", SCHEDULES)
def test_describe_is_one_line(name):
    text = describe(ScheduleConfig(name=name, milestones=[5, 8], warmup_epochs=1))
    assert text and "\n" not in text
