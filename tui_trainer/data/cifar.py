"""Readers for the pickled `cifar-10-batches-py` and `cifar-100-python` layouts, without md5 checks.

Re-pickled or re-split copies of CIFAR have other checksums than the official archives and
torchvision's CIFAR10 / CIFAR100 refuse them; the layout is all these readers rely on. Pickles can
run code when loaded, so only the globals a numpy array needs are resolved; anything else is refused.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tui_trainer.data import CIFAR100_DIR, CIFAR_DIR, DataError, Dataset

try:
    from numpy._core import multiarray, numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray, numeric

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)

# cifar-100-python: one training and one test pickle, each with fine (100) and coarse (20) labels.
CIFAR100_TRAIN, CIFAR100_TEST, CIFAR100_META = "train", "test", "meta"
CIFAR100_FILES = (CIFAR100_TRAIN, CIFAR100_TEST, CIFAR100_META)
CIFAR100_LABELS = ("fine", "coarse")


class _Refused(pickle.UnpicklingError):
    pass


def _latin1(text: str, encoding: str) -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1"); allowing
    # only that encoding keeps codec lookup (which imports modules) out of reach.
    if encoding != "latin1":
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


# numpy 1 pickles name numpy.core, numpy 2 numpy._core; both map to this numpy's functions.
# Arrays come back through _reconstruct (protocols 2-4) or _frombuffer (protocol 5).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): numeric._frombuffer,
    ("numpy.core.multiarray", "scalar"): multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}


class _NumpyOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def read_cifar(folder: Path) -> Dataset:
    """Read data_batch_1..5, test_batch and batches.meta from `folder`."""
    _check_files(folder, FILES, CIFAR_DIR)
    meta_path = folder / META_FILE
    classes = _names(_field(_unpickle(meta_path, CIFAR_DIR), "label_names", meta_path, "CIFAR-10"))
    train = [_read_batch(folder / name, len(classes)) for name in TRAIN_FILES]
    test_x, test_y = _read_batch(folder / TEST_FILE, len(classes))
    return Dataset(
        train_x=torch.from_numpy(np.concatenate([x for x, _ in train])),
        train_y=torch.from_numpy(np.concatenate([y for _, y in train])),
        test_x=torch.from_numpy(test_x), test_y=torch.from_numpy(test_y),
        classes=classes, source=str(folder))


def read_cifar100(folder: Path, labels: str = "fine") -> Dataset:
    """Read train, test and meta from a `cifar-100-python` folder, with its fine (100 classes) or
    coarse (20 superclasses) labels."""
    if labels not in CIFAR100_LABELS:
        raise DataError(f"data.cifar100_labels = {labels!r}: choose fine or coarse")
    _check_files(folder, CIFAR100_FILES, CIFAR100_DIR)
    meta_path = folder / CIFAR100_META
    meta = _unpickle(meta_path, CIFAR100_DIR)
    classes = _names(_field(meta, f"{labels}_label_names", meta_path, "CIFAR-100"))
    train_x, train_y = _read_batch(folder / CIFAR100_TRAIN, len(classes), f"{labels}_labels", CIFAR100_DIR)
    test_x, test_y = _read_batch(folder / CIFAR100_TEST, len(classes), f"{labels}_labels", CIFAR100_DIR)
    return Dataset(train_x=torch.from_numpy(train_x), train_y=torch.from_numpy(train_y),
                   test_x=torch.from_numpy(test_x), test_y=torch.from_numpy(test_y),
                   classes=classes, source=str(folder))


def _check_files(folder: Path, names: tuple[str, ...], layout: str) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}: copy the complete {layout}/ there")


def _names(names: Any) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _read_batch(path: Path, num_classes: int, label_key: str = "labels",
                layout: str = CIFAR_DIR) -> tuple[np.ndarray, np.ndarray]:
    kind = "CIFAR-100" if layout == CIFAR100_DIR else "CIFAR-10"
    batch = _unpickle(path, layout)
    data = _field(batch, "data", path, kind)
    # Rows hold 1024 red, then green, then blue values, so they reshape straight to (3, 32, 32).
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise DataError(f"{path}: 'data' is not an N x 3072 uint8 array; this is not a {kind} batch")
    try:
        labels = np.asarray(_field(batch, label_key, path, kind), dtype=np.int64)
        ok = labels.shape == (len(data),) and bool(np.all((labels >= 0) & (labels < num_classes)))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{path}: '{label_key}' must be {len(data)} class indices below {num_classes}; "
                        "the file is damaged or from another data set")
    return data.reshape(-1, 3, 32, 32), labels


def _unpickle(path: Path, layout: str = CIFAR_DIR) -> Any:
    try:
        with open(path, "rb") as f:
            return _NumpyOnly(f, encoding="bytes").load()
    except _Refused as e:
        raise DataError(f"{path}: refused to load, it references {e} which a CIFAR batch never "
                        "does (hostile or not a CIFAR file); replace it") from None
    except Exception as e:  # a damaged pickle can fail in many ways; all mean the same to the user
        raise DataError(f"{path}: corrupt or truncated ({type(e).__name__}); "
                        f"re-download or replace {layout}/") from None


def _field(batch: Any, key: str, path: Path, kind: str = "CIFAR-10") -> Any:
    # Python 2 wrote the official files, so keys arrive as bytes; re-pickled copies may use str.
    if isinstance(batch, dict):
        for k in (key.encode(), key):
            if k in batch:
                return batch[k]
    raise DataError(f"{path}: no '{key}' entry; this is not a {kind} file")
