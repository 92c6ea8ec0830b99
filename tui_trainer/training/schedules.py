"""Learning-rate schedules as pure functions of the step.

The trainer sets the LR itself before every step instead of using torch's stateful schedulers, so
the same function draws the curve in the UI before a run, and a resumed run needs no scheduler
state: the step number is enough.

`lr_at(..., step)` is the LR used for optimizer step `step` (0-based), the convention of torch's
schedulers and airbench: warmups start at step 0 and decays reach their final value at
`step == total_steps`, one past the last step taken.
"""
from __future__ import annotations

import math
from typing import Callable

from tui_trainer.config import ScheduleConfig


def _steps(epochs: float, steps_per_epoch: int) -> int:
    # Epoch settings may be fractional; rounding keeps warmups and milestones on whole steps.
    return round(epochs * steps_per_epoch)


def _lerp(a: float, b: float, t: float) -> float:
    # This form stays >= 0 when a, b >= 0, so no curve dips below zero from rounding.
    return a * (1 - t) + b * t


def _warmup_then(decay: Callable[[float, float, float], float], start: float, lr: float, final: float,
                 step: int, warmup: int, total_steps: int) -> float:
    warmup = min(warmup, total_steps)
    if step < warmup:
        return _lerp(start, lr, step / warmup)
    t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return decay(lr, final, t)


def _cosine_decay(lr: float, final: float, t: float) -> float:
    return final + (lr - final) * 0.5 * (1 + math.cos(math.pi * t))


def _constant(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    return lr


def _step(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    passed = sum(step >= _steps(m, steps_per_epoch) for m in cfg.milestones)
    return lr * cfg.gamma ** passed


def _cosine(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    return _warmup_then(_cosine_decay, 0.0, lr, lr * cfg.final_lr_factor, step,
                        _steps(cfg.warmup_epochs, steps_per_epoch), total_steps)


def _onecycle(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    # Start at lr/25 like torch's OneCycleLR (div_factor=25); its default warmup is 30%, ours 25%.
    warmup = (_steps(cfg.warmup_epochs, steps_per_epoch) if cfg.warmup_epochs > 0
              else round(0.25 * total_steps))
    return _warmup_then(_cosine_decay, lr / 25, lr, lr * cfg.final_lr_factor, step, warmup, total_steps)


def _triangular2(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    # Same arithmetic as torch.optim.lr_scheduler.CyclicLR(mode="triangular2") with equal up and
    # down half-cycles, so the two agree to rounding; the amplitude halves every full cycle.
    base, peak = lr * cfg.base_lr_factor, lr * cfg.max_lr_factor
    half = float(cfg.cycle_epochs * steps_per_epoch)
    cycle = math.floor(1 + step / (2 * half))
    x = 1.0 + step / (2 * half) - cycle
    scale = x / 0.5 if x <= 0.5 else (x - 1) / (0.5 - 1)
    return base + (peak - base) * scale / 2.0 ** (cycle - 1)


def _linear(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    return _warmup_then(_lerp, 0.0, lr, lr * cfg.final_lr_factor, step,
                        _steps(cfg.warmup_epochs, steps_per_epoch), total_steps)


SCHEDULES: dict[str, Callable[[ScheduleConfig, float, int, int, int], float]] = {
    "constant": _constant, "step": _step, "cosine": _cosine, "onecycle": _onecycle,
    "triangular2": _triangular2, "linear": _linear,
}


def lr_at(cfg: ScheduleConfig, lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    return SCHEDULES[cfg.name](cfg, lr, step, steps_per_epoch, total_steps)


def lr_curve(cfg: ScheduleConfig, lr: float, epochs: int, steps_per_epoch: int) -> list[float]:
    total = epochs * steps_per_epoch
    return [lr_at(cfg, lr, step, steps_per_epoch, total) for step in range(total)]


def _warmup_text(cfg: ScheduleConfig) -> str:
    return f"{cfg.warmup_epochs:g}-epoch warmup, " if cfg.warmup_epochs > 0 else ""


def _final_text(cfg: ScheduleConfig) -> str:
    return f"{cfg.final_lr_factor:g} x lr" if cfg.final_lr_factor > 0 else "0"


DESCRIPTIONS: dict[str, Callable[[ScheduleConfig], str]] = {
    "constant": lambda c: "constant LR",
    "step": lambda c: (f"step: x{c.gamma:g} at epochs {', '.join(f'{m:g}' for m in sorted(c.milestones))}"
                       if c.milestones else "step: no milestones, so constant"),
    "cosine": lambda c: f"cosine: {_warmup_text(c)}decay to {_final_text(c)}",
    "onecycle": lambda c: (f"one-cycle: from lr/25, {_warmup_text(c) or '25% warmup, '}"
                           f"cosine decay to {_final_text(c)}"),
    "triangular2": lambda c: (f"triangular2: {c.base_lr_factor:g}-{c.max_lr_factor:g} x lr, "
                              f"{c.cycle_epochs:g}-epoch half-cycles, amplitude halves each cycle"),
    "linear": lambda c: f"linear: {_warmup_text(c)}decay to {_final_text(c)}",
}


def describe(cfg: ScheduleConfig) -> str:
    return DESCRIPTIONS[cfg.name](cfg)
