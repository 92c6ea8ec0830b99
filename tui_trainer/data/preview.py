"""What the augmentation settings do, shown on a few training images: the same pipeline a run
uses (crop, flip, cutout, MixUp/CutMix), run on a few hundred images instead of the whole set."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import AugmentConfig
from . import CIFAR_DIR, load_dataset
from .pipeline import TrainBatches

SAMPLE = 256  # images the preview draws from: enough for crops to vary, cheap to read


@dataclass
class PreviewImage:
    image: np.ndarray  # (3, H, W) uint8, as the network sees it before normalization
    caption: str  # its class
    detail: str  # what was mixed in, if anything


def sample_images(source: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A few hundred training images of `source` without reading the whole data set where the
    layout allows it (one CIFAR batch file); other layouts are read whole."""
    if source == "synthetic":
        from .synthetic import make_synthetic
        data = make_synthetic(n_train=SAMPLE, n_test=10)
        return data.train_x, data.train_y, data.classes
    folder = Path(source).expanduser() / CIFAR_DIR
    if (folder / "data_batch_1").is_file() and (folder / "batches.meta").is_file():
        from .cifar import _field, _read_batch, _unpickle
        names = _field(_unpickle(folder / "batches.meta"), "label_names", folder / "batches.meta")
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        x, y = _read_batch(folder / "data_batch_1", len(classes))
        return torch.from_numpy(x[:SAMPLE].copy()), torch.from_numpy(y[:SAMPLE].copy()), classes
    data = load_dataset(source)
    return data.train_x[:SAMPLE], data.train_y[:SAMPLE], data.classes


def preview(x: torch.Tensor, y: torch.Tensor, classes: list[str], aug: AugmentConfig, count: int = 3,
            seed: int = 0, epoch: int = 0) -> list[PreviewImage]:
    """The first `count` images of one training batch under `aug`, as uint8 pixels."""
    # Mean 0 and std 1 make "normalized" inputs plain 0..1 pixels again.
    batches = TrainBatches(x, y, aug, max(count, 2) + 1, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), len(classes),
                           seed, "cpu", False, torch.float32)
    batch = next(iter(batches.epoch(epoch)))
    pixels = (batch.inputs[:count] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    out = []
    for i in range(len(pixels)):
        a, b = classes[int(batch.targets_a[i])], classes[int(batch.targets_b[i])]
        mixed = batch.lam != 1.0
        out.append(PreviewImage(pixels[i], a, f"{batch.lam:.0%} + {b}" if mixed else ""))
    return out

