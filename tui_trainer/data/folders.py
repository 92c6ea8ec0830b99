"""Reader for image folders: DIR/train/<class>/*.png and DIR/test/<class>/*.png, and DIR/val/<class>/
when there (the validation split data.validation > 0 then uses, instead of drawing one).

The classes are the sorted subfolder names of train/. Images become `size` x `size` RGB (32 by
default, CIFAR's input size; `data.image_size`), resized bilinearly when they are not that size.
They are decoded once: the tensors are cached (tui_trainer.data.cache) and a later load of the same
files at the same size reads the cache instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from tui_trainer.data import DataError, Dataset, cache

SIZE = 32  # the default image side
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
# Naming the decoders keeps PIL from handing a file to others, such as EPS, which runs Ghostscript.
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
PROGRESS_EVERY = 256  # images between progress calls

Progress = Callable[[int, int], None]


def read_image_folders(root: Path, size: int = SIZE, progress: Progress | None = None,
                       use_cache: bool = True) -> Dataset:
    """Read DIR/train and DIR/test at `size` x `size`; `progress(done, total)` is called while
    images are decoded (not on a cache hit)."""
    train_dir, test_dir, val_dir = root / "train", root / "test", root / "val"
    classes = _class_dirs(train_dir)
    if not classes:
        raise DataError(f"{train_dir} has no class folders: put the images in {train_dir}/<class>/")
    splits = {"train": _list_split(train_dir, classes), "test": _checked_split(test_dir, train_dir, classes)}
    if val_dir.is_dir() and _class_dirs(val_dir):
        splits["val"] = _checked_split(val_dir, train_dir, classes)
    entry = None
    if use_cache:
        try:
            entry = cache.entry_path(root, classes, [p for files in splits.values() for p, _ in files], size)
        except OSError:  # a file vanished or cannot be stat'ed: decoding reports it properly
            entry = None
    counts = {name: len(files) for name, files in splits.items()}
    decoded = cache.load(entry, classes, counts, size) if entry is not None else None
    if decoded is None:
        counter = _Counter(sum(counts.values()), progress)
        decoded = {name: _decode(files, size, counter) for name, files in splits.items()}
        if entry is not None:
            cache.store(entry, classes, decoded)
    val_x, val_y = decoded.get("val", (None, None))
    return Dataset(*decoded["train"], *decoded["test"], classes, str(root), val_x=val_x, val_y=val_y)


def _checked_split(split_dir: Path, train_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    for name in _class_dirs(split_dir):
        if name not in classes:
            raise DataError(f"{split_dir.name} class {name!r} has no folder in {train_dir}: add it there or "
                            f"remove {split_dir / name}")
    return _list_split(split_dir, classes)


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def _list_split(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = [(path, label) for label, name in enumerate(classes) if (split_dir / name).is_dir()
             for path in sorted((split_dir / name).iterdir()) if path.suffix.lower() in SUFFIXES]
    if not files:
        raise DataError(f"no images in {split_dir}: expected {split_dir}/<class>/*.png")
    return files


class _Counter:
    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def step(self) -> None:
        self.done += 1
        if self.progress and (self.done % PROGRESS_EVERY == 0 or self.done == self.total):
            self.progress(self.done, self.total)


def _decode(files: list[tuple[Path, int]], size: int, counter: _Counter) -> tuple[torch.Tensor, torch.Tensor]:
    if counter.progress and counter.done == 0:
        counter.progress(0, counter.total)
    x = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        x[i] = _read_image(path, size)
        counter.step()
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), labels


def _read_image(path: Path, size: int = SIZE) -> np.ndarray:
    try:
        with Image.open(path, formats=FORMATS) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"unreadable image {path} ({type(e).__name__}): replace or delete it") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb)
