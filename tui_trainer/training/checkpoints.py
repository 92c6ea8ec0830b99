"""Checkpoint files: atomic writes, and loads that can never run code from the file.

A checkpoint holds only tensors and plain Python values, so `torch.load(weights_only=True)`
reads it; a file that needs more than that is refused, never retried with weights_only=False.
"""
from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_write
from ..text import clip
from ..workspace.listing import CheckpointInfo
from . import device

FORMAT = "tui-trainer/1"
REQUIRED = ("format", "model", "state_dict", "classes", "mean", "std", "epoch", "metrics")


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` atomically; a full disk raises DiskFull (an OSError naming what it needed).
    Serialized in memory first: torch.save reports a failed file write as an opaque RuntimeError
    ("enforce fail at inline_container.cc"), and these checkpoints are a few MB to a few hundred."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def load(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Load and check a tui-trainer checkpoint, or raise CheckpointError with one clear line.
    `mmap`: tensors are read from disk only when touched (a peek at the epoch reads none)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise CheckpointError(f"{path}: not a checkpoint (not a file torch.save wrote, or a truncated one)")
    try:
        with warnings.catch_warnings():
            # torch warns about legacy pickles before refusing them; the refusal below says it all.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        # weights_only refuses any global it does not know: that is how a code-carrying pickle ends here.
        raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain values "
                              f"({_short(e, 120)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, KeyError, IndexError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, or another format): {_short(e)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tui-trainer checkpoint (a torch file without the {FORMAT!r} header)")
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing {', '.join(missing)}")
    if problem := _bad_values(payload):
        raise CheckpointError(f"{path}: {problem}")
    return payload


def _bad_values(payload: dict[str, Any]) -> str | None:
    """What in a checkpoint's header cannot be used as it says (a hand-edited or foreign file)."""
    classes = payload["classes"]
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes):
        return "its classes are not a list of names"
    for key in ("mean", "std"):
        values = payload[key]
        if (not isinstance(values, (list, tuple)) or len(values) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            return f"its {key} is not three numbers (one per RGB channel): {values!r:.60}"
    if any(v <= 0 for v in payload["std"]):
        return f"its std must be above 0: {payload['std']!r}"
    if not isinstance(payload["model"], dict) or not isinstance(payload["model"].get("name"), str):
        return "it does not name its model"
    return None


def _short(e: BaseException, width: int = 160) -> str:
    text = str(e).strip().splitlines()
    return clip(text[0] if text else type(e).__name__, width)


# --- what a checkpoint holds: built and read only here -----------------------------------------

def header(cfg: Any, classes: list[str], precision: str) -> dict[str, Any]:
    """What every checkpoint of a run carries, so eval, predict and export need nothing else."""
    return {"format": FORMAT, "classes": list(classes), "mean": list(cfg.data.mean), "std": list(cfg.data.std),
            "precision": precision, "config": cfg.to_dict(),
            "model": {"name": cfg.model.name, "num_classes": len(classes), "widths": list(cfg.model.widths),
                      "zero_gamma": cfg.model.zero_gamma}}


def weights_payload(head: dict[str, Any], weights: dict[str, torch.Tensor], epoch: int,
                    metrics: dict[str, Any]) -> dict[str, Any]:
    """best.pt: the evaluated weights (the EMA's when on) and the metrics they scored."""
    return {**head, "state_dict": weights, "epoch": epoch, "metrics": metrics}


def training_payload(head: dict[str, Any], weights: dict[str, torch.Tensor], *, epoch: int, step: int,
                     partial: dict | None, metrics: dict[str, Any], optimizer: dict, ema: dict | None,
                     train_weights: dict[str, torch.Tensor] | None, best_acc: float | None,
                     best_epoch: int | None, rng: dict[str, torch.Tensor],
                     rngs: list[dict[str, torch.Tensor]] | None = None,
                     budget: dict | None = None, best_val_acc: float | None = None) -> dict[str, Any]:
    """last.pt: best.pt's contents plus all that resume needs to continue at (epoch, step) exactly:
    optimizer and EMA state, the raw training weights when the EMA's are the evaluated ones, the
    random state (device.rng_state; `rngs`: every rank's, for a run on several processes), and the
    sums of an epoch stopped part-way."""
    payload = {**weights_payload(head, weights, epoch, metrics), "step": step, "partial": partial,
               "optimizer": optimizer, "ema": ema, "rng": rng,
               "best_acc": best_acc, "best_epoch": best_epoch, "best_val_acc": best_val_acc}
    if train_weights is not None:
        payload["train_weights"] = train_weights
    if rngs is not None:
        payload["rngs"] = rngs
    if budget is not None:
        payload["budget"] = budget  # a budget run's clock: its training time and the share used
    return payload


@dataclass
class ResumePoint:
    """Where a resumed run picks up, read from last.pt."""
    epoch: int = 0  # epochs done
    step: int = 0  # steps done into the next epoch
    partial: dict | None = None  # that epoch's loss and accuracy sums so far
    best_acc: float | None = None
    best_epoch: int | None = None
    test_acc: float | None = None  # the last evaluated accuracy
    best_val_acc: float | None = None  # the validation accuracy that chose best_epoch
    val_acc: float | None = None  # the last evaluated validation accuracy


def restore(payload: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            path: Path | str = "last.pt", rank: int = 0, world: int = 1) -> ResumePoint:
    """Load last.pt's training state into `model` and `optimizer` and the random generators of
    the model's device (rank `rank`'s of `world`, when last.pt holds that many)."""
    try:
        model.load_state_dict(payload.get("train_weights") or payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} does not fit this run's config.toml (model or optimizer changed?): "
                              f"{_short(e, 120)}") from None
    lay_out_like_params(optimizer)
    rngs = payload.get("rngs") or []
    dev = next(model.parameters()).device
    device.set_rng_state(rngs[rank] if len(rngs) == world > 1 else payload["rng"], dev)
    metrics = payload.get("metrics") or {}
    return ResumePoint(payload["epoch"], payload["step"], payload.get("partial"), payload.get("best_acc"),
                       payload.get("best_epoch"), metrics.get("test_acc"), payload.get("best_val_acc"),
                       metrics.get("val_acc"))


def lay_out_like_params(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (momentum, Adam's moments) its parameter's memory
    layout. load_state_dict keeps the saved strides: a run begun in fp32 (contiguous) and resumed
    where its precision resolves to bf16 (channels_last parameters) would hand the fused CUDA
    kernels tensors of mixed strides, which they refuse."""
    for p, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def model_from_checkpoint(payload: dict[str, Any], path: Path | str = "checkpoint") -> nn.Module:
    """The network a checkpoint names, with its evaluated weights."""
    from ..models import build_model

    spec = payload["model"]
    try:
        model = build_model(spec["name"], spec["num_classes"], spec.get("widths") or None, spec.get("zero_gamma", False))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: weights do not fit the model it names ({_short(e)})") from None
    return model


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's tensors on the CPU: what a checkpoint stores."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}



def describe(path: Path, cache: dict | None = None) -> CheckpointInfo:
    """Size, epoch, step and test accuracy of a checkpoint, or why it cannot be used; never raises.
    The file is memory-mapped, so neither the weights nor a multi-MB optimizer state are read.
    `cache` keeps results by (path, mtime, size), so an unchanged file is not opened again."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as e:
        return CheckpointInfo(path, 0, error=e.strerror or str(e))
    key = (path, stat.st_mtime_ns, stat.st_size)
    if cache is not None and key in cache:
        return cache[key]
    info = CheckpointInfo(path, stat.st_size)
    try:
        payload = load(path, mmap=True)
        info.epoch, info.step = int(payload["epoch"]), int(payload.get("step") or 0)
        metrics = payload.get("metrics")
        info.test_acc = metrics.get("test_acc") if isinstance(metrics, dict) else None
    except CheckpointError as e:
        message = str(e)
        info.error = message[len(f"{path}: "):] if message.startswith(f"{path}: ") else message
    except Exception as e:  # noqa: BLE001 - a strange file marks its row, never breaks a listing
        info.error = f"{type(e).__name__}: {e}"
    if cache is not None:
        cache[key] = info
    return info
