"""Reader for image folders: DIR/train/<class>/*.png and DIR/test/<class>/*.png.

The classes are the sorted subfolder names of train/. Images become 32x32 RGB because the models
are built for CIFAR's input size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tui_trainer.data import DataError, Dataset

SIZE = 32
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
# Naming the decoders keeps PIL from handing a file to others, such as EPS, which runs Ghostscript.
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")


def read_image_folders(root: Path) -> Dataset:
    train_dir, test_dir = root / "train", root / "test"
    classes = _class_dirs(train_dir)
    if not classes:
        raise DataError(f"{train_dir} has no class folders: put the images in {train_dir}/<class>/")
    for name in _class_dirs(test_dir):
        if name not in classes:
            raise DataError(f"test class {name!r} has no folder in {train_dir}: add it there or "
                            f"remove {test_dir / name}")
    train_x, train_y = _read_split(train_dir, classes)
    test_x, test_y = _read_split(test_dir, classes)
    return Dataset(train_x, train_y, test_x, test_y, classes, str(root))


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def _read_split(split_dir: Path, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    files = [(path, label) for label, name in enumerate(classes) if (split_dir / name).is_dir()
             for path in sorted((split_dir / name).iterdir()) if path.suffix.lower() in SUFFIXES]
    if not files:
        raise DataError(f"no images in {split_dir}: expected {split_dir}/<class>/*.png")
    x = np.empty((len(files), SIZE, SIZE, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        x[i] = _read_image(path)
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), labels


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path, formats=FORMATS) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"unreadable image {path} ({type(e).__name__}): replace or delete it") from None
    if rgb.size != (SIZE, SIZE):
        rgb = rgb.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(rgb)
