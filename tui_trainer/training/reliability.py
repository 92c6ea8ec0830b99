"""How sure a model should be: calibration error, a reliability diagram's bins, and temperature scaling.

The expected and maximum calibration errors come from torchmetrics (multiclass_calibration_error,
15 equal-width confidence bins, norms l1 and max). The diagram's bins are counted here with the
same rule (torch.bucketize over the same boundaries, right-closed) because torchmetrics returns
only the error; they add up to its ECE.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) divides the
logits by one number T fitted to minimise the negative log-likelihood on held-out images: the run's
validation split (data.validation), never the test split, which then measures the result. The fit
is scipy's bounded scalar minimiser over log T. T is stored beside the checkpoint
(best.pt -> best.temperature.json) with a digest of the checkpoint file, so a checkpoint rewritten
since (a resumed run) is not paired with a stale T; predict and export read it from there.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..atomic import atomic_write

BINS = 15  # torchmetrics' default, and Guo et al.'s
LOG_T_RANGE = (-3.0, 3.0)  # T from 0.05 to 20: far beyond what a trained net needs either way


@dataclass
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean top-1 probability in the bin
    accuracy: float  # how often that top-1 was right


@dataclass
class Reliability:
    ece: float  # expected calibration error: the count-weighted mean |accuracy - confidence|
    mce: float  # maximum calibration error: the worst bin's
    n: int
    bins: list[Bin]

    def to_json(self) -> dict:
        return {"ece": self.ece, "mce": self.mce, "n": self.n, "bins": [asdict(b) for b in self.bins]}


@dataclass
class Calibration:
    """A checkpoint's calibration on the test split, before and after temperature scaling."""
    before: Reliability
    after: Reliability | None = None  # with `temperature`; None without a validation split to fit it on
    temperature: float | None = None
    fitted_on: int = 0  # validation images T was fitted on
    note: str = ""  # why there is no temperature

    def to_json(self) -> dict:
        return {"ece": self.before.ece, "mce": self.before.mce, "bins": self.before.to_json()["bins"],
                "temperature": self.temperature, "fitted_on": self.fitted_on,
                "after": self.after.to_json() if self.after else None, "note": self.note or None}


NO_SPLIT = ("no temperature: its run held no images out, and the test split never fits anything; train with "
            "--set data.validation=5000 to fit one on held-out training images")


def reliability(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, bins: int = BINS) -> Reliability:
    """The calibration of softmax(logits / temperature) against `labels`."""
    from torchmetrics.functional.classification import multiclass_calibration_error

    probs = (logits.float() / temperature).softmax(-1)
    k = probs.shape[-1]
    ece = float(multiclass_calibration_error(probs, labels, k, n_bins=bins, norm="l1"))
    mce = float(multiclass_calibration_error(probs, labels, k, n_bins=bins, norm="max"))
    confidence, predicted = probs.max(-1)
    right = predicted.eq(labels).float()
    bounds = torch.linspace(0, 1, bins + 1)
    # bucketize(right=True) - 1: [low, high) to each bin, and a confidence of exactly 1 to a last one
    index = torch.bucketize(confidence, bounds, right=True) - 1
    shown = []
    for i in range(bins + 1):
        inside = index == i
        count = int(inside.sum())
        if count:
            high = float(bounds[i + 1]) if i < bins else 1.0
            shown.append(Bin(float(bounds[min(i, bins)]), high, count, float(confidence[inside].mean()),
                             float(right[inside].mean())))
    return Reliability(ece, mce, len(labels), shown)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) on these (held-out) images."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=LOG_T_RANGE,
                            method="bounded", options={"xatol": 1e-4})
    return math.exp(found.x)


# --- the temperature beside its checkpoint ---------------------------------------------------------

def temperature_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".temperature.json")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_temperature(checkpoint: Path, temperature: float, fitted_on: int, before: float, after: float) -> Path:
    """Write T beside `checkpoint`; `before`/`after`: the validation NLL it took from and to."""
    path = temperature_path(checkpoint)
    record = {"temperature": temperature, "fitted_on": f"{fitted_on} validation images (held-out training images)",
              "validation_nll": {"before": before, "after": after}, "checkpoint": Path(checkpoint).name,
              "checkpoint_digest": file_digest(checkpoint)}
    atomic_write(path, lambda f: f.write((json.dumps(record, indent=1) + "\n").encode()))
    return path


def load_temperature(checkpoint: Path) -> float | None:
    """The T fitted for this very checkpoint file, or None (none fitted, unreadable, or fitted for
    the file's earlier contents)."""
    try:
        record = json.loads(temperature_path(checkpoint).read_text())
        temperature = float(record["temperature"])
        same = record["checkpoint_digest"] == file_digest(checkpoint)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return temperature if same and temperature > 0 else None


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    return float(F.cross_entropy(logits.double() / temperature, labels.long()))
