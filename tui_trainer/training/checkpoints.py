"""Checkpoint files: atomic writes, and loads that can never run code from the file.

A checkpoint holds only tensors and plain Python values, so `torch.load(weights_only=True)`
reads it; a file that needs more than that is refused, never retried with weights_only=False.
"""
from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write

FORMAT = "tui-trainer/1"
REQUIRED = ("format", "model", "state_dict", "classes", "mean", "std", "epoch", "metrics")


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save(path: Path, payload: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save(payload, f))


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a tui-trainer checkpoint, or raise CheckpointError with one clear line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            # torch warns about legacy pickles before refusing them; the refusal below says it all.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses any global it does not know: that is how a code-carrying pickle ends here.
        first = str(e).strip().splitlines()[0] if str(e).strip() else "refused"
        raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain values ({first[:120]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, KeyError, IndexError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, or another format): {_short(e)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tui-trainer checkpoint (a torch file without the {FORMAT!r} header)")
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing {', '.join(missing)}")
    return payload


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:160]
