"""What a run was made with, so that it can be made again and a difference explained: versions (and
the git commit when run from a checkout), the device, CPU model and flags, threads, precision,
determinism, the seed and a fingerprint of the data files. Written once by a new run as
RUN/environment.json (read by workspace/environment.py); a resume adds what it ran with under
"resumed". `train --like RUN` reads the threads back; the Runs screen's diff names what differs.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

from .. import __version__
from ..atomic import atomic_write
from ..config import Config
from ..workspace.environment import ENVIRONMENT
from . import device, speed_cache

# The CPU flags that decide which kernels run (and so the last bits of a result): named in full.
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")
HASHED_BYTES = 1 << 20
SAMPLED_FILES = 8  # CIFAR-10's batches and meta all fit; of an image folder, its largest files


def capture(place: device.Placement, cfg: Config, data_source: str | None) -> dict:
    gpu = torch.cuda.get_device_name(place.device) if place.device.type == "cuda" else None
    return {
        "tui_trainer": __version__, "git": _git(), "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": _cudnn(), "device": place.describe(),
        "gpu": gpu, "cpu": speed_cache.cpu_name(), "cpu_flags": _notable_flags(), "threads": torch.get_num_threads(),
        "precision": place.precision, "deterministic": torch.are_deterministic_algorithms_enabled(),
        "seed": cfg.run.seed, "data": data_source, "data_fingerprint": data_fingerprint(data_source),
    }


def write(run_dir: Path, env: dict, resumed: bool) -> None:
    path = run_dir / ENVIRONMENT
    if resumed:
        try:
            first = json.loads(path.read_text())
        except (OSError, ValueError):
            first = {}  # a run from before the file: what its resume ran with is all there is
        env = {**first, "resumed": [*first.get("resumed", []), env]} if first else env
    atomic_write(path, lambda f: f.write(json.dumps(env, indent=1).encode()))


def data_fingerprint(source: str | None) -> str | None:
    """A short hash of the data's files: every name and size, and the first MB of the largest few
    (CIFAR's batch files): enough to tell a changed or other copy, and no more work at a run's start
    than a stat per file where an image folder holds tens of thousands."""
    if source is None:
        return None
    if source == "synthetic":
        return "synthetic"
    root = Path(source).expanduser()
    try:
        files = sorted((p.relative_to(root).as_posix(), p.stat().st_size, p) for p in root.rglob("*")
                       if p.is_file() and not any(s.startswith(".") for s in p.parts))
        h = hashlib.sha256()
        for name, size, _ in files:
            h.update(f"{name}\0{size}\0".encode())
        for _, _, p in sorted(files, key=lambda f: (-f[1], f[0]))[:SAMPLED_FILES]:
            with open(p, "rb") as f:
                h.update(f.read(HASHED_BYTES))
    except OSError:
        return None
    return h.hexdigest()[:16]


def _git() -> dict | None:
    """The commit and whether the tree was dirty, when tui-trainer runs from a git checkout."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _cudnn() -> int | None:
    return torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None


def _notable_flags() -> list[str]:
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in first.splitlines() if line.startswith("flags")), [])
    return [f for f in NOTABLE_FLAGS if f in flags]
