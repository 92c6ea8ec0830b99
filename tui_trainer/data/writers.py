"""Write a Dataset to disk in the layouts the readers take; tests and benchmarks build inputs with it."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from tui_trainer.data import CIFAR_DIR, Dataset
from tui_trainer.data.cifar import META_FILE, TEST_FILE, TRAIN_FILES


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
