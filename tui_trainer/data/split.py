"""The validation split: training images held out to choose on, so that the test set chooses nothing.

`data.validation = N` draws N training images, each class giving its share of them (stratified, as
scikit-learn's train_test_split(stratify=...) does, so a small split still has every class in its
proportion), with a generator seeded by `data.validation_seed` alone: runs of any run.seed, a resume
and a later `eval` draw the same images. An image folder's own val/ is used instead when it has one.
The draw is a few lines of torch rather than scikit-learn's because the images stay tensors and
scikit-learn is not otherwise a dependency.
"""
from __future__ import annotations

import dataclasses
import hashlib

import torch

from ..config import DataConfig
from . import DataError, Dataset

OWN_FOLDER = "val/"  # Dataset.validation["source"] for an image folder's own split


def shares(counts: list[int], n: int) -> list[int]:
    """How many of `n` held-out images each class gives: its share of the training set, rounded by
    largest remainder so that they add up to `n`."""
    total = sum(counts)
    exact = [n * c / total for c in counts]
    given = [int(e) for e in exact]
    by_remainder = sorted(range(len(counts)), key=lambda k: (given[k] - exact[k], k))
    for k in by_remainder[: n - sum(given)]:
        given[k] += 1
    return given


def largest_allowed(counts: list[int]) -> int:
    """The most images a draw may hold out and still leave every class one to train on."""
    low, high = 0, sum(counts) - 1
    while low < high:  # a class's share grows with n, so the first n that empties one bounds the range
        mid = (low + high + 1) // 2
        if all(s < c for s, c in zip(shares(counts, mid), counts) if c):
            low = mid
        else:
            high = mid - 1
    return low


def held_out(labels: torch.Tensor, n: int, seed: int, num_classes: int) -> torch.Tensor:
    """The indices (sorted) of `n` training images, drawn class by class; DataError naming
    data.validation when `n` would leave a class with nothing to train on."""
    counts = _refuse_too_many(labels, n, num_classes)
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for k, share in enumerate(shares(counts, n)):
        members = (labels == k).nonzero().flatten()
        order = torch.randperm(len(members), generator=generator)
        picked.append(members[order[:share]])
    return torch.cat(picked).sort().values if picked else torch.zeros(0, dtype=torch.long)


def check(data: Dataset, cfg: DataConfig) -> None:
    """Refuse, as with_validation would, a split `data` cannot give; copies no image."""
    if cfg.validation and data.val_x is None:
        _refuse_too_many(data.train_y, cfg.validation, data.num_classes)


def _refuse_too_many(labels: torch.Tensor, n: int, num_classes: int) -> list[int]:
    """The classes' counts; DataError naming data.validation and its range when `n` is too many."""
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    most = largest_allowed(counts)
    if n > most:
        raise DataError(f"data.validation = {n}: allowed 0 (off) to {most} for these {len(labels):,} training images "
                        f"in {sum(1 for c in counts if c)} classes (every class keeps an image to train on)")
    return counts


def digest(indices: torch.Tensor) -> str:
    """What identifies a draw: recorded with the run, compared when it resumes."""
    return hashlib.sha256(indices.to(torch.int64).numpy().tobytes()).hexdigest()[:16]


def with_validation(data: Dataset, cfg: DataConfig) -> Dataset:
    """`data` with its validation split as `cfg` asks: none (data.validation = 0), the folder's val/,
    or drawn out of the training images (which then no longer hold them)."""
    if cfg.validation == 0:
        return dataclasses.replace(data, val_x=None, val_y=None, validation=None)
    if data.val_x is not None:  # an image folder's val/: the user's own split
        return dataclasses.replace(data, validation=_record(data.val_y, data.num_classes, source=OWN_FOLDER))
    idx = held_out(data.train_y, cfg.validation, cfg.validation_seed, data.num_classes)
    keep = torch.ones(len(data.train_y), dtype=torch.bool)
    keep[idx] = False
    record = _record(data.train_y[idx], data.num_classes, source="drawn", seed=cfg.validation_seed, digest=digest(idx))
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep],
                               val_x=data.train_x[idx], val_y=data.train_y[idx], validation=record)


def _record(labels: torch.Tensor, num_classes: int, **what) -> dict:
    return {"images": len(labels), **what, "per_class": torch.bincount(labels, minlength=num_classes).tolist()}


def describe(record: dict | None) -> str:
    """The split in a few words, for a run's first line and Setup."""
    if not record:
        return "no validation split: the test set chooses the best epoch"
    if record["source"] == OWN_FOLDER:
        return f"validation: the {record['images']:,} images of val/"
    return f"validation: {record['images']:,} training images held out (seed {record['seed']})"
