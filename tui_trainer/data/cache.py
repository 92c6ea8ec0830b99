"""The decoded-image cache for image folders: one torch file of uint8 tensors per folder and size.

Decoding tens of thousands of PNGs or JPEGs takes minutes; reading them back as one tensor file
takes a second. An entry is keyed on everything that decides its contents: each image's path
(relative to the folder, so its class and split), size in bytes and modification time, the class
list, the image size, and this module's format version. A changed, added or removed file gives
another key, so the stale entry is never read; it is deleted when the new one is written (one
entry per folder and image size). Entries live in `$XDG_CACHE_HOME/tui-trainer/folders/` (default `~/.cache/...`), are
written atomically, and load with `torch.load(weights_only=True)`: a damaged or foreign file is
ignored and rewritten, never trusted.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from tui_trainer import locations
from tui_trainer.atomic import atomic_write

VERSION = 1  # bump when decoding changes (resize method, colour conversion): old entries then miss


def cache_dir() -> Path:
    return locations.cache_dir() / "folders"


def entry_path(root: Path, classes: list[str], files: Sequence[Path], size: int) -> Path:
    """The cache file for these images of `root` at `size`; raises OSError if one cannot be stat'ed."""
    root = Path(root)
    listing = []
    for path in files:
        st = path.stat()
        listing.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    key = hashlib.sha256(json.dumps([VERSION, size, list(classes), listing]).encode()).hexdigest()[:24]
    return cache_dir() / f"{_folder_id(root.resolve())}-{size}px-{key}.pt"


def load(path: Path, classes: list[str], counts: dict[str, int], size: int) -> dict[str, tuple] | None:
    """The cached (images, labels) of each split in `counts` (its name: how many images), or None when
    there is no entry or it does not hold what was asked for."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - torn, damaged or foreign: decode again and replace it
        return None
    try:
        ok = (entry["version"] == VERSION and list(entry["classes"]) == list(classes)
              and all(_images(entry[f"{name}_x"], n, size) and _labels(entry[f"{name}_y"], n, len(classes))
                      for name, n in counts.items()))
    except (KeyError, TypeError, AttributeError):
        ok = False
    return {name: (entry[f"{name}_x"], entry[f"{name}_y"]) for name in counts} if ok else None


def store(path: Path, classes: list[str], splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Write an entry of each split's (images, labels) and drop the older ones of the same folder and
    size; False if it could not be written (a read-only or full disk: the data set still loads, it
    is only decoded again next time)."""
    entry = {"version": VERSION, "classes": list(classes)}
    for name, (x, y) in splits.items():
        entry[f"{name}_x"], entry[f"{name}_y"] = x, y
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(entry, f))
    except (OSError, RuntimeError):  # torch.save reports a failed write (a full disk) as RuntimeError
        return False
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(f"{prefix}*.pt"):
        if old != path:
            old.unlink(missing_ok=True)
    return True


def _folder_id(root: Path) -> str:
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


def _images(x: Any, n: int, size: int) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and tuple(x.shape) == (n, 3, size, size)


def _labels(y: Any, n: int, num_classes: int) -> bool:
    return (isinstance(y, torch.Tensor) and y.dtype == torch.int64 and tuple(y.shape) == (n,)
            and (n == 0 or (int(y.min()) >= 0 and int(y.max()) < num_classes)))
