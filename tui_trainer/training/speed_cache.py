"""The cache of this machine's measured speed (calibration.py measures it), read without torch so
that `tui-trainer presets` can say what a preset takes here at once.

One JSON file in the cache folder, an entry per machine key: the CPU model and a hash of its flags
(or the GPU), torch and tui-trainer versions, threads and precision; a change of any starts a new
entry. Each entry holds each net's training and evaluation speed, its build time, and the start-up
(process start to the data loaded). Deleting the file is always safe: it is measured again.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib import metadata
from pathlib import Path

from .. import locations
from ..atomic import atomic_write
from ..config import Config
from .budget import Speed

REFINE = 0.5  # weight of a finished run's own speed against what the cache held


def cache_file() -> Path:
    return locations.cache_dir() / "calibration.json"


def cpu_name() -> str:
    """The CPU model and a hash of its flags (what decides which kernels run): part of every key here."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        first = ""
    info = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines())}
    flags = hashlib.sha1(info.get("flags", "").encode()).hexdigest()[:8]
    return f"{info.get('model name', platform.machine())} flags:{flags}"


def key(where: str, torch_version: str, threads: int, precision: str) -> str:
    try:
        version = metadata.version("tui-trainer")
    except metadata.PackageNotFoundError:
        version = "source"
    return f"{where} | torch {torch_version} | tui-trainer {version} | threads {threads} | {precision}"


def net_key(cfg: Config, widths: list[int]) -> str:
    return f"{cfg.model.name} {','.join(map(str, widths)) or 'default'} batch {cfg.data.batch_size}"


def read() -> dict:
    try:
        raw = json.loads(cache_file().read_text())
        return raw if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(cache: dict) -> None:
    try:
        cache_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file(), lambda f: f.write(json.dumps(cache, indent=1).encode()))
    except OSError:
        pass  # a read-only cache: the next run measures again


def cached_speed(machine: str, cfg: Config, widths: list[int]) -> Speed | None:
    raw = read().get(machine, {}).get("nets", {}).get(net_key(cfg, widths))
    try:
        return Speed(float(raw["train_ips"]), float(raw["eval_ips"]), float(raw["build_s"]), float(raw.get("epoch_s", 0)))
    except (TypeError, KeyError, ValueError):
        return None


def store_speed(machine: str, cfg: Config, widths: list[int], speed: Speed) -> None:
    cache = read()
    entry = cache.setdefault(machine, {"nets": {}})
    entry.setdefault("nets", {})[net_key(cfg, widths)] = {
        "train_ips": round(speed.train_ips, 1), "eval_ips": round(speed.eval_ips, 1),
        "build_s": round(speed.build_s, 3), "epoch_s": round(speed.epoch_s, 3), "measured": time.time()}
    _write(cache)


def store_startup(machine: str, seconds: float, train_images: int, test_images: int) -> None:
    """Process start to the data loaded, as a run just measured it, and the data's size."""
    cache = read()
    entry = cache.setdefault(machine, {"nets": {}})
    old = entry.get("startup_s")
    entry["startup_s"] = round(seconds if old is None else REFINE * seconds + (1 - REFINE) * float(old), 2)
    entry["train_images"], entry["test_images"] = train_images, test_images
    _write(cache)


def refine(machine: str, cfg: Config, train_ips: float) -> None:
    """A finished run's measured training speed, blended into its net's entry (when it has one)."""
    speed = cached_speed(machine, cfg, list(cfg.model.widths))
    if speed is not None and train_ips > 0:
        speed.train_ips = REFINE * train_ips + (1 - REFINE) * speed.train_ips
        store_speed(machine, cfg, list(cfg.model.widths), speed)


def seconds_here(cfg: Config) -> float | None:
    """What `cfg` would take on this machine, start to exit, by the newest entry of this CPU or
    GPU that timed its net (None: none has)."""
    here = cpu_name()
    entries = [e for k, e in read().items() if isinstance(e, dict) and k.startswith(here)]
    timed = [e for e in entries if net_key(cfg, list(cfg.model.widths)) in e.get("nets", {})]
    if not timed:
        return None
    entry = max(timed, key=lambda e: e["nets"][net_key(cfg, list(cfg.model.widths))].get("measured", 0))
    net = entry["nets"][net_key(cfg, list(cfg.model.widths))]
    train, test = entry.get("train_images"), entry.get("test_images")
    if not train or not test:
        return None
    views = 7 if cfg.run.tta else 1  # the last plain evaluation, and TTA's six
    return (float(entry.get("startup_s", 0)) + net["build_s"]
            + cfg.run.epochs * (train / net["train_ips"] + net.get("epoch_s", 0)) + test * views / net["eval_ips"])
