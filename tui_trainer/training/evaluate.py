"""Test-split evaluation: accuracy, loss, per-class accuracy, confusion matrix, worst mistakes, and
calibration (training/reliability.py) when asked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import data_settings
from ..data import DataError, Dataset, load_dataset
from ..data.pipeline import normalize
from ..data.split import with_validation
from . import checkpoints, device
from .checkpoints import model_from_checkpoint
from .class_report import Confusion, confusions, drill
from .reliability import NO_SPLIT, Calibration, fit_temperature, nll, reliability, save_temperature

EVAL_BATCH = 1000


@dataclass
class Mistake:
    index: int  # into the test split
    true: int
    predicted: int
    confidence: float  # the model's probability for its wrong answer


@dataclass
class EvalResult:
    accuracy: float
    loss: float
    n: int
    per_class: list[float]
    confusion: list[list[int]]  # rows: true class, columns: predicted
    classes: list[str]
    worst: list[Mistake] = field(default_factory=list)
    logits: torch.Tensor | None = None  # (n, classes) float32 on the CPU, when asked for (calibration)
    calibration: Calibration | None = None
    # Each image's true class, top-1 class and its probability, in test-split order: what a drill
    # into the confusion matrix, a class's misses or its false alarms picks images from.
    labels: list[int] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)

    def images(self, true: int | None = None, pred: int | None = None, wrong: bool = False) -> list[int]:
        return drill(self.labels, self.predicted, self.confidence, true=true, pred=pred, wrong=wrong)

    def confusions(self) -> list[Confusion]:
        return confusions(self.labels, self.predicted, self.confidence)

    @classmethod
    def from_counts(cls, confusion: torch.Tensor, loss_sum: float, classes: list[str],
                    worst: list[Mistake] | None = None) -> EvalResult:
        correct, n = confusion.diag(), int(confusion.sum())
        return cls(accuracy=correct.sum().item() / max(n, 1), loss=loss_sum / max(n, 1), n=n,
                   per_class=(correct / confusion.sum(1).clamp(min=1)).tolist(), confusion=confusion.tolist(),
                   classes=list(classes), worst=worst or [])

    def summed(self, sum_: Callable[[torch.Tensor], torch.Tensor]) -> EvalResult:
        """The result over every process's part of the test set; `sum_` adds a tensor over them."""
        counts = sum_(torch.tensor([self.loss * self.n, *sum(self.confusion, [])], dtype=torch.float64))
        k = len(self.classes)
        return EvalResult.from_counts(counts[1:].round().long().view(k, k), counts[0].item(), self.classes)

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n,
                "per_class": dict(zip(self.classes, self.per_class)), "confusion": self.confusion,
                "classes": self.classes,
                "worst": [vars(m) for m in self.worst],
                **({"calibration": self.calibration.to_json()} if self.calibration else {})}


def _mirror(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (model(x) + model(x.flip(-1)))


def tta_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """airbench's six views: the image and its mirror, plus both shifted one pixel each way."""
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = 0.5 * (_mirror(model, padded[..., :h, :w]) + _mirror(model, padded[..., 2:, 2:]))
    return 0.5 * _mirror(model, x) + 0.5 * shifted


@torch.no_grad()
def evaluate_model(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: list[float],
                   std: list[float], placement: device.Placement, classes: list[str], tta: bool = False,
                   worst: int = 0, progress: Callable[[int, int], None] | None = None,
                   keep_logits: bool = False) -> EvalResult:
    """Evaluate `model` on uint8 `images`; fixed batch size and order, so results repeat exactly."""
    was_training = model.training
    model.eval()
    num_classes = len(classes)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    loss_sum = 0.0
    kept, top_pred, top_conf = [], [], []
    n = len(images)
    for start in range(0, n, EVAL_BATCH):
        x = normalize(images[start:start + EVAL_BATCH].to(placement.device), mean, std)
        x = x.contiguous(memory_format=placement.memory_format)
        y = labels[start:start + EVAL_BATCH].to(placement.device)
        with placement.autocast():
            logits = tta_logits(model, x) if tta else model(x)
        logits = logits.float()
        if keep_logits:
            kept.append(logits.cpu())
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        probs = logits.softmax(-1)
        conf, pred = probs.max(-1)
        top_pred.append(pred.cpu())
        top_conf.append(conf.cpu())
        confusion += torch.bincount((y * num_classes + pred).cpu(), minlength=num_classes ** 2).view(num_classes, num_classes)
        if progress:
            progress(min(start + EVAL_BATCH, n), n)
    model.train(was_training)
    result = EvalResult.from_counts(confusion, loss_sum, classes)
    if n:
        result.labels = labels.tolist()
        result.predicted, result.confidence = torch.cat(top_pred).tolist(), torch.cat(top_conf).tolist()
        result.worst = [Mistake(i, result.labels[i], result.predicted[i], result.confidence[i])
                        for i in result.images(wrong=True)[:worst]] if worst else []
    if keep_logits:
        result.logits = torch.cat(kept) if kept else torch.zeros(0, num_classes)
    return result


def tta_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: list[float],
                 std: list[float], placement: device.Placement, plain: EvalResult, share: float) -> float:
    """TTA's accuracy with its six views only for the `share` of the images `plain` (this model's
    evaluation without TTA, on the same images) was least sure of; the others keep their plain
    answer. An image the net is sure of seldom changes its answer under flips and shifts, so a
    quarter costs 1.5 views instead of 6 (hiverge's cifar10-speedrun does the same)."""
    n = len(labels)
    if share >= 1.0 or len(plain.confidence) != n:
        return evaluate_model(model, images, labels, mean, std, placement, plain.classes, tta=True).accuracy
    unsure = torch.tensor(plain.confidence).argsort(stable=True)[:max(1, round(share * n))]
    again = evaluate_model(model, images[unsure], labels[unsure], mean, std, placement, plain.classes, tta=True)
    right = torch.tensor(plain.predicted) == torch.tensor(plain.labels)
    plain_there = int(right[unsure].sum())
    return (int(right.sum()) - plain_there + round(again.accuracy * again.n)) / n


def evaluate_checkpoint(path: Path, data_source: str, device_name: str = "auto", tta: bool = False,
                        worst: int = 0, dataset: Dataset | None = None,
                        progress: Callable[[int, int], None] | None = None, split: str = "test",
                        calibration: bool = False) -> EvalResult:
    """Load a checkpoint and evaluate it on the test split of `data_source`, read with the
    checkpoint's own data settings (data set, CIFAR-100 labels, image size); `split` "val": on the
    images its run held out, drawn again from its data.validation and data.validation_seed.
    `calibration`: also its calibration on the test split, and a temperature fitted on the run's
    validation split (when it has one), saved beside the checkpoint and measured on the test split.

    Raises CheckpointError or DataError with one line a user can act on.
    """
    payload = checkpoints.load(path)
    placement = device.resolve(device_name, payload.get("precision", "auto"))
    model = model_from_checkpoint(payload, path).to(placement.device, memory_format=placement.memory_format)
    settings = data_settings((payload.get("config") or {}).get("data"))
    data = dataset or load_dataset(data_source, settings)
    if list(data.classes) != list(payload["classes"]):
        raise DataError(f"{path} was trained on classes {payload['classes']}, but {data.source} has {data.classes}")
    x, y = data.test_x, data.test_y
    if split == "val":
        data = with_validation(data, settings)
        if data.val_x is None:
            raise DataError(f"{path}'s run held no images out (data.validation = 0): it has no validation split")
        x, y = data.val_x, data.val_y
    if calibration and split != "test":
        raise ValueError("calibration is measured on the test split (its temperature is fitted on validation)")
    result = evaluate_model(model, x, y, payload["mean"], payload["std"], placement,
                            data.classes, tta=tta, worst=worst, progress=progress, keep_logits=calibration)
    if calibration:
        result.calibration = Calibration(reliability(result.logits, y))
        held = with_validation(data, settings)
        if held.val_x is None:
            result.calibration.note = NO_SPLIT
        else:
            val = evaluate_model(model, held.val_x, held.val_y, payload["mean"], payload["std"], placement,
                                 data.classes, tta=tta, keep_logits=True)
            t = fit_temperature(val.logits, held.val_y)
            save_temperature(path, t, len(held.val_y), nll(val.logits, held.val_y), nll(val.logits, held.val_y, t))
            result.calibration.after = reliability(result.logits, y, t)
            result.calibration.temperature, result.calibration.fitted_on = t, len(held.val_y)
    return result
