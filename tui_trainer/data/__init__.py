"""Data sets held in memory as uint8 tensors: CIFAR-10 batches, image folders, or synthetic.

The readers are imported where they are used: PIL and torchvision are slow to import, the UI
starts before any data is needed, and a run needs only one of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

CIFAR_DIR = "cifar-10-batches-py"


class DataError(Exception):
    """Data that cannot be used; the message is one line saying what is wrong and what to do."""


@dataclass
class Dataset:
    train_x: torch.Tensor  # uint8 (N, 3, H, W)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    source: str  # where the images came from, for the UI and the run record

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def load_dataset(source: str) -> Dataset:
    """`source` is "synthetic" or a directory holding cifar-10-batches-py/ or train/ and test/."""
    if source == "synthetic":
        from tui_trainer.data.synthetic import make_synthetic
        return make_synthetic()
    from tui_trainer.data.cifar import read_cifar
    root = Path(source).expanduser()
    if (cifar := _cifar_dir(root)) is not None:
        return read_cifar(cifar)
    if _has_folders(root):
        from tui_trainer.data.folders import read_image_folders
        return read_image_folders(root)
    try:
        import torchvision.datasets
        # torchvision only fetches and unpacks the archive; the files are then read below, by the
        # same code as copies a user put there.
        torchvision.datasets.CIFAR10(root=str(root), download=True)
    except Exception as e:
        raise DataError(f"no CIFAR-10 data in {root} and the download failed (offline?): put "
                        f"{CIFAR_DIR}/ there, or pass --data DIR / --data synthetic") from e
    return read_cifar(root / CIFAR_DIR)


def describe_source(source: str) -> str:
    """A one-line status for the UI, from a look at the directory, without reading the images."""
    if source == "synthetic":
        return "synthetic data"
    root = Path(source).expanduser()
    if (cifar := _cifar_dir(root)) is not None:
        from tui_trainer.data.cifar import FILES
        missing = [name for name in FILES if not (cifar / name).is_file()]
        if missing:
            return f"missing: {cifar} lacks {', '.join(missing)}; copy the complete {CIFAR_DIR}/ there"
        return f"CIFAR-10 found in {cifar}"
    if _has_folders(root):
        return f"image folders in {root}"
    return (f"missing: no CIFAR-10 in {root}; a run will try to download it there (needs internet), "
            f"or put {CIFAR_DIR}/ there, or use --data synthetic")


def _cifar_dir(root: Path) -> Path | None:
    """root/cifar-10-batches-py, or root itself when the user points at that folder directly."""
    if (root / CIFAR_DIR).is_dir():
        return root / CIFAR_DIR
    if (root / "batches.meta").is_file():
        return root
    return None


def _has_folders(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()
