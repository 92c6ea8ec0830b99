"""How fast this machine trains and evaluates each net a budget plan may choose: measured with the
engine's own step on the run's own data (a few timed steps after a warm-up), kept in a cache file
keyed by everything that decides speed (the CPU model and flags or the GPU, torch and tui-trainer
versions, threads, precision), and refined by every run that finishes here.

`tui-trainer calibrate` shows and refreshes it. The cache (speed_cache.py) is JSON a user may delete
at any time: the next budget run measures again (about 10-15 s on a CPU with native bf16).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import torch

from ..config import Config
from ..data import Dataset
from ..data.pipeline import Batch, TrainBatches, normalize
from . import device, speed_cache
from .budget import Net, Speed
from .build import build_training, train_step
from .evaluate import tta_logits
from .optim import set_lr

WARMUP_STEPS, TIMED_STEPS, TIMED_MIN_S = 2, 4, 1.0
EVAL_IMAGES = 1000


def machine_key(place: device.Placement) -> str:
    """Everything that decides this machine's speed, as one string: a change of any makes a new entry."""
    where = torch.cuda.get_device_name(place.device) if place.device.type == "cuda" else speed_cache.cpu_name()
    return speed_cache.key(where, torch.__version__, torch.get_num_threads(), place.precision)


def measure(cfg: Config, widths: list[int], data: Dataset, place: device.Placement) -> Speed:
    """Time `cfg` with `widths` on this machine: building it, the engine's training step on real
    batches (after a warm-up), and one forward pass over up to a thousand test images."""
    trial = cfg.copy()
    trial.set("model.widths", widths)
    started = time.perf_counter()
    model, optimizer, batches = build_training(trial, data, place)
    build_s = time.perf_counter() - started
    set_lr(optimizer, cfg.optimizer.lr * 1e-3)  # steps that teach nothing: only their time counts
    steps, timed, t0 = 0, 0, 0.0
    for batch in _batches(batches):
        if steps == WARMUP_STEPS:
            t0 = time.perf_counter()
        loss, _ = train_step(model, optimizer, batch, place, cfg.augment.label_smoothing)
        steps += 1
        if steps > WARMUP_STEPS:
            timed += len(batch.targets_a)
            loss.item()  # the step is done (a GPU runs ahead otherwise)
            if steps - WARMUP_STEPS >= TIMED_STEPS and time.perf_counter() - t0 >= TIMED_MIN_S:
                break
    train_ips = timed / max(time.perf_counter() - t0, 1e-9)
    model.eval()
    x = normalize(data.test_x[:EVAL_IMAGES].to(place.device), cfg.data.mean, cfg.data.std)
    x = x.contiguous(memory_format=place.memory_format)
    with torch.no_grad(), place.autocast():
        model(x[:64])  # warm-up
        t0 = time.perf_counter()
        tta_logits(model, x).float().sum().item()
        eval_ips = 6 * len(x) / max(time.perf_counter() - t0, 1e-9)
    return Speed(train_ips, eval_ips, build_s)


def _batches(batches: TrainBatches) -> Iterator[Batch]:
    """One epoch after another: a small data set's epoch can be shorter than the timed steps."""
    epoch = 0
    while True:
        yield from batches.epoch(epoch)
        epoch += 1


def speeds(cfg: Config, nets: list[Net], data: Dataset, place: device.Placement,
           say: Callable[[str], None], refresh: bool = False) -> tuple[dict[Net, Speed], str]:
    """This machine's speed of each candidate net: from the cache, or measured now (and cached).
    Returns them and the cache key."""
    key = machine_key(place)
    found: dict[Net, Speed] = {}
    missing = []
    for net in nets:
        speed = None if refresh else speed_cache.cached_speed(key, net.configure(cfg), list(net.widths))
        if speed is None:
            missing.append(net)
        else:
            found[net] = speed
    if missing:
        batches = {n.batch_size for n in nets}
        names = ", ".join(("-".join(map(str, n.widths)) or cfg.model.name) +
                          (f" (batch {n.batch_size})" if len(batches) > 1 else "") for n in missing)
        say(f"calibrating this machine for {names}: a few timed steps each (once; cached in "
            f"{speed_cache.cache_file()})")
        started = time.perf_counter()
        for net in missing:
            trial = net.configure(cfg)
            found[net] = speed = measure(trial, list(net.widths), data, place)
            speed_cache.store_speed(key, trial, list(net.widths), speed)
        say(f"calibrated in {time.perf_counter() - started:.1f} s")
    return found, key


def cached_speeds(cfg: Config, nets: list[Net], key: str) -> dict[Net, Speed]:
    """The speeds the cache holds of `nets` on the machine `key` (those it lacks are left out)."""
    return {n: s for n in nets if (s := speed_cache.cached_speed(key, n.configure(cfg), list(n.widths))) is not None}


def process_started() -> float:
    """When this process was created (time.time()'s clock): a budget counts from there."""
    try:
        import psutil
        return psutil.Process(os.getpid()).create_time()
    except Exception:  # noqa: BLE001 - psutil is a dependency; this is only its absence or a sandbox
        return time.time()


def preview(cfg: Config, source: str, device_name: str) -> str:
    """What a budget run of `cfg` on `source` would plan now, in words, from the cache alone (Setup
    shows it under the form); how it will plan when this machine is not calibrated yet."""
    from ..data import check_source, estimate_train_size, training_images
    from .budget import candidates, plan, tables_for

    place = device.resolve(device_name, cfg.run.precision)
    key = machine_key(place)
    train, test = training_images(estimate_train_size(source), cfg.data), estimate_train_size(source, "test")
    if not train or not test:
        return "plan: at the start, once the\ndata is read"
    tables = tables_for(cfg, train, check_source(source, cfg.data)[0])
    nets = candidates(cfg, tables)
    known = cached_speeds(cfg, nets, key)
    if len(known) < len(nets):
        return "plan: at the start, after a\ncalibration (10-15 s, once)"
    startup = float(speed_cache.read().get(key, {}).get("startup_s", 0.0))
    try:
        return plan(cfg, cfg.run.budget_s, startup, known, train, test, tables).short()
    except ValueError as e:
        return str(e)
