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
from .budget import Speed, final_seconds

REFINE = 0.5  # weight of a finished run's own speed against what the cache held


def cache_file() -> Path:
    return locations.cache_dir() / "calibration.json"


def _cpu_info() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        first = ""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines())}


def cpu_name() -> str:
    """The CPU model and a hash of its flags (what decides which kernels run): part of every key here."""
    info = _cpu_info()
    flags = hashlib.sha1(info.get("flags", "").encode()).hexdigest()[:8]
    return f"{info.get('model name', platform.machine())} flags:{flags}"


def cpu_label() -> str:
    """The CPU model and the flags that decide its precision (native bf16, AMX): what every speed
    figure names beside it, since ratios only hold on one kind of CPU."""
    info = _cpu_info()
    flags = info.get("flags", "").split()
    marks = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{info.get('model name', platform.machine())} ({', '.join(marks) or 'no native bf16'})"


def key(where: str, torch_version: str, threads: int, precision: str) -> str:
    try:
        version = metadata.version("tui-trainer")
    except metadata.PackageNotFoundError:
        version = "source"
    return f"{where} | torch {torch_version} | tui-trainer {version} | threads {threads} | {precision}"


def net_key(cfg: Config, widths: list[int]) -> str:
    return (f"{cfg.model.name} {','.join(map(str, widths)) or 'default'} batch {cfg.data.batch_size} "
            f"size {cfg.data.image_size}")


def read() -> dict:
    """The cache, its entries each a dict holding a dict of nets; anything else in it is dropped."""
    try:
        raw = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: e for k, e in raw.items() if isinstance(e, dict) and isinstance(e.get("nets", {}), dict)}


def _write(cache: dict) -> None:
    try:
        cache_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file(), lambda f: f.write(json.dumps(cache, indent=1).encode()))
    except OSError:
        pass  # a read-only cache: the next run measures again


def cached_speed(machine: str, cfg: Config, widths: list[int]) -> Speed | None:
    raw = read().get(machine, {}).get("nets", {}).get(net_key(cfg, widths))
    try:
        speed = Speed(float(raw["train_ips"]), float(raw["eval_ips"]), float(raw["build_s"]),
                      float(raw.get("epoch_s", 0)))
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    return speed if speed.train_ips > 0 and speed.eval_ips > 0 else None  # a broken measurement: again


def store_speed(machine: str, cfg: Config, widths: list[int], speed: Speed) -> None:
    cache = read()
    entry = cache.setdefault(machine, {"nets": {}})
    entry.setdefault("nets", {})[net_key(cfg, widths)] = {
        "train_ips": round(speed.train_ips, 1), "eval_ips": round(speed.eval_ips, 1),
        "build_s": round(speed.build_s, 3), "epoch_s": round(speed.epoch_s, 3), "measured": time.time()}
    _write(cache)


def store_startup(machine: str, seconds: float) -> None:
    """A `tui-trainer train` process's start to its data loaded, as a run just measured it."""
    cache = read()
    entry = cache.setdefault(machine, {"nets": {}})
    old = entry.get("startup_s")
    entry["startup_s"] = round(seconds if not isinstance(old, (int, float)) else
                               REFINE * seconds + (1 - REFINE) * float(old), 2)
    _write(cache)


def refine(machine: str, cfg: Config, train_ips: float) -> None:
    """A finished run's measured training speed, blended into its net's entry (when it has one)."""
    speed = cached_speed(machine, cfg, list(cfg.model.widths))
    if speed is not None and train_ips > 0:
        speed.train_ips = REFINE * train_ips + (1 - REFINE) * speed.train_ips
        store_speed(machine, cfg, list(cfg.model.widths), speed)


def seconds_here(cfg: Config, train_images: int, test_images: int) -> float | None:
    """What `cfg` would take on this CPU, start to exit, on data of this size, by the newest entry
    of this CPU that timed its net (None: none has). Torch is not imported to find the rest of the
    key (threads, precision): a listing answers at once."""
    name, newest = net_key(cfg, list(cfg.model.widths)), None
    for k, entry in read().items():
        if k.startswith(cpu_name()) and (speed := cached_speed(k, cfg, list(cfg.model.widths))) is not None:
            measured = entry["nets"][name].get("measured", 0)
            if newest is None or measured > newest[0]:
                newest = (measured, entry, speed)
    if newest is None:
        return None
    _, entry, speed = newest
    startup = entry.get("startup_s", 0.0)
    return (float(startup if isinstance(startup, (int, float)) else 0.0) + speed.build_s
            + cfg.run.epochs * (train_images / speed.train_ips + speed.epoch_s)
            + final_seconds(test_images, speed, cfg.run.tta, cfg.run.tta_share))
