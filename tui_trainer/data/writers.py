"""Write a Dataset to disk in the layouts the readers take; tests and benchmarks build inputs with it."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from tui_trainer.data import CIFAR100_DIR, CIFAR_DIR, Dataset
from tui_trainer.data.cifar import CIFAR100_META, CIFAR100_TEST, CIFAR100_TRAIN, META_FILE, TEST_FILE, TRAIN_FILES


def write_cifar_batches(root: Path, dataset: Dataset) -> Path:
    """root/cifar-10-batches-py with five training batches, test_batch and batches.meta."""
    folder = Path(root) / CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    x = dataset.train_x.reshape(len(dataset.train_x), -1).numpy()
    y = dataset.train_y.numpy()
    parts = np.array_split(np.arange(len(x)), len(TRAIN_FILES))
    for i, (name, part) in enumerate(zip(TRAIN_FILES, parts), 1):
        _dump(folder / name, {"batch_label": f"training batch {i} of {len(parts)}",
                              "data": x[part], "labels": y[part].tolist()})
    _dump(folder / TEST_FILE, {"batch_label": "testing batch 1 of 1",
                               "data": dataset.test_x.reshape(len(dataset.test_x), -1).numpy(),
                               "labels": dataset.test_y.tolist()})
    _dump(folder / META_FILE, {"label_names": list(dataset.classes),
                               "num_cases_per_batch": len(parts[0]), "num_vis": x.shape[1]})
    return folder


def write_cifar100(root: Path, dataset: Dataset, coarse_of: Sequence[int] | None = None,
                   coarse_names: Sequence[str] | None = None) -> Path:
    """root/cifar-100-python with train, test and meta, as the official archive has them.

    `dataset`'s classes and labels are the fine ones; `coarse_of[i]` is the superclass of fine class
    i (default i // 5: five fine classes to a superclass, as in CIFAR-100), and `coarse_names` the
    superclass names (default "super0", "super1", ...).
    """
    folder = Path(root) / CIFAR100_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fine_count = len(dataset.classes)
    coarse_of = [i // 5 for i in range(fine_count)] if coarse_of is None else [int(c) for c in coarse_of]
    if len(coarse_of) != fine_count:
        raise ValueError(f"coarse_of has {len(coarse_of)} entries for {fine_count} fine classes")
    if coarse_names is None:
        coarse_names = [f"super{j}" for j in range(max(coarse_of) + 1)]
    lookup = np.asarray(coarse_of, dtype=np.int64)
    for name, images, labels in ((CIFAR100_TRAIN, dataset.train_x, dataset.train_y),
                                 (CIFAR100_TEST, dataset.test_x, dataset.test_y)):
        fine = labels.numpy().astype(np.int64)
        _dump(folder / name, {"filenames": [f"image_{i:05d}.png" for i in range(len(fine))],
                              "batch_label": f"{name}ing batch 1 of 1",
                              "fine_labels": fine.tolist(), "coarse_labels": lookup[fine].tolist(),
                              "data": images.reshape(len(images), -1).numpy()})
    _dump(folder / CIFAR100_META, {"fine_label_names": list(dataset.classes),
                                   "coarse_label_names": list(coarse_names)})
    return folder


def write_image_folders(root: Path, dataset: Dataset) -> Path:
    """root/train/<class>/NNNNN.png and root/test/<class>/NNNNN.png."""
    root = Path(root)
    for split, images, labels in (("train", dataset.train_x, dataset.train_y),
                                  ("test", dataset.test_x, dataset.test_y)):
        for i, (image, label) in enumerate(zip(images, labels.tolist())):
            folder = root / split / dataset.classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.png")
    return root


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the protocol of the official files
