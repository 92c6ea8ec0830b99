"""The LR range test (Leslie Smith; fastai's lr_find): train a throwaway model for a few steps while
the LR rises exponentially, and suggest the LR where the loss falls fastest.

One factor is swept and multiplies every configured peak LR at once (optimizer.lr and, for muon,
optimizer.muon_lr), so the suggestion keeps the ratio the config chose between them; bias_lr_scale
applies as in training, through set_lr. The schedule is ignored: the sweep replaces it.

Nothing is written and no caller's model is touched: the model is a fresh one built from the config
with its seed, so the same config gives the same curve. Loading the data may still fill the data
folder or the image cache, as a run would.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from itertools import count
from typing import Callable

import numpy as np

from .. import locations
from ..config import Config, field_info
from ..data import Dataset, load_dataset
from ..data.pipeline import TrainBatches, mixed_loss
from . import device
from .build import build_training
from .optim import set_lr

# Three decades below the configured LR to one above: the configured LR sits inside the sweep, so
# the curve shows both whether it could be higher and where it breaks.
FACTOR_START, FACTOR_END = 1e-3, 10.0
BETA = 0.98  # fastai's smoothing: about the last 50 steps, bias-corrected so early steps are not pulled to 0
DIVERGE_RATIO = 4.0  # smoothed loss above 4x its best: past this point the curve says nothing more
SKIP_FRACTION = 0.1  # at the lowest LRs the loss barely moves: its slope there is noise, not a fall
MIN_POINTS = 5  # fewer usable points than this give no suggestion
MIN_STEPS = 10  # the fewest that leave MIN_POINTS once the first 10% are skipped, with room to diverge
RULE = "steepest descent"


@dataclass
class LRFindResult:
    lrs: list[float]  # optimizer.lr at each step
    losses: list[float]  # smoothed
    raw_losses: list[float]
    factor_suggested: float | None  # None: too few steps before divergence or a stop
    suggested_lr: float | None
    suggested_muon_lr: float | None  # None unless the optimizer is muon
    rule: str
    steps_done: int  # points measured; the one that diverged is measured but not trained on
    seconds: float  # the whole call: data, model and sweep
    diverged: bool

    def to_json(self) -> dict:
        return asdict(self)


def sweep_factors(cfg: Config, steps: int) -> list[float]:
    """The LR factor at each step: FACTOR_START to FACTOR_END, narrowed so that every swept LR is
    one the config accepts (a suggestion can then be applied as it is)."""
    if steps < MIN_STEPS:
        raise ValueError(f"an LR sweep needs at least {MIN_STEPS} steps, got {steps}")
    lo, hi = FACTOR_START, FACTOR_END
    for path in _lr_paths(cfg):
        meta, base = field_info(path)[1], cfg.get(path)
        lo, hi = max(lo, meta["min"] / base), min(hi, meta["max"] / base)
    if hi / lo < 10:
        raise ValueError("optimizer.lr and optimizer.muon_lr are too far apart to sweep together "
                         "(less than a factor 10 of either stays within its allowed range)")
    return [lo * (hi / lo) ** (i / (steps - 1)) for i in range(steps)]


def find_lr(cfg: Config, *, data: str | None = None, dataset: Dataset | None = None, device_name: str = "auto",
            steps: int = 100, progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> LRFindResult:
    """Sweep the LR over `steps` steps (fewer when the loss diverges or `should_stop()` says so).

    `dataset` (already loaded) wins over `data` (a folder or "synthetic"; default: the default data
    folder). `progress(done, steps)` is called after each step, from this thread. Raises DataError,
    ConfigError or ValueError for what a user can fix.
    """
    started = time.perf_counter()
    factors = sweep_factors(cfg, steps)
    place = device.resolve(device_name, cfg.run.precision)
    data_set = dataset or load_dataset(data or locations.default_data(), cfg.data)
    model, optimizer, batches = build_training(cfg, data_set, place)
    base = cfg.optimizer.lr
    lrs, losses, raw_losses = [], [], []
    average, best, diverged = 0.0, math.inf, False
    judged = 0  # the points before any divergence: a suggestion comes from these
    for i, (factor, batch) in enumerate(zip(factors, _endless(batches))):
        if should_stop is not None and should_stop():
            break
        lr = base * factor
        set_lr(optimizer, lr)
        with place.autocast():
            loss = mixed_loss(model(batch.inputs), batch, cfg.augment.label_smoothing)
        raw = loss.item()  # a sync per step: each step decides whether the sweep goes on
        if not math.isfinite(raw):
            diverged = True
            break
        average = BETA * average + (1 - BETA) * raw
        smoothed = average / (1 - BETA ** (i + 1))
        lrs.append(lr)
        losses.append(smoothed)
        raw_losses.append(raw)
        if smoothed > DIVERGE_RATIO * best:
            diverged = True  # this point stays in the curve, to show the rise, but is not judged
            break
        judged += 1
        best = min(best, smoothed)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(i + 1, steps)
    index = steepest_descent(lrs[:judged], losses[:judged])
    factor = factors[index] if index is not None else None
    muon = cfg.optimizer.name == "muon"
    return LRFindResult(lrs, losses, raw_losses, factor, base * factor if factor is not None else None,
                        cfg.optimizer.muon_lr * factor if factor is not None and muon else None,
                        RULE, len(lrs), time.perf_counter() - started, diverged)


def steepest_descent(lrs: list[float], losses: list[float]) -> int | None:
    """The index where the loss falls fastest against log LR, after the first SKIP_FRACTION."""
    skip = max(1, round(SKIP_FRACTION * len(lrs)))
    if len(lrs) - skip < MIN_POINTS:
        return None
    slopes = np.gradient(np.array(losses[skip:]), np.log(np.array(lrs[skip:])))
    return skip + int(np.argmin(slopes))


def _lr_paths(cfg: Config) -> list[str]:
    return ["optimizer.lr", "optimizer.muon_lr"] if cfg.optimizer.name == "muon" else ["optimizer.lr"]


def _endless(batches: TrainBatches):
    """Epoch after epoch of batches: a sweep may be longer than one epoch of a small data set."""
    for epoch in count():
        yield from batches.epoch(epoch)
