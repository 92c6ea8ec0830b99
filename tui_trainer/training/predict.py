"""Predict the class of image files with a checkpoint: top-k classes with probabilities.

Images of any size are read as the image-folder reader reads training data (the same PIL
decoders, RGB, a bilinear resize to the checkpoint's image size, which PIL makes area-like when
it shrinks) and normalized with the checkpoint's mean and std; the class names come from the
checkpoint too, so a checkpoint file is all this needs. A temperature fitted for the checkpoint
(training/reliability.py, `eval --calibration` on a run with a validation split) divides the logits
before the softmax, so the probabilities are the calibrated ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..data.folders import FORMATS, SUFFIXES
from ..data.pipeline import normalize
from ..text import clip
from . import checkpoints, device
from .evaluate import tta_logits
from .reliability import load_temperature

BATCH = 256  # images read and predicted at a time: a folder of any size stays within memory


@dataclass
class Guess:
    name: str  # the class name
    index: int
    probability: float


@dataclass
class Prediction:
    path: Path
    top: list[Guess]  # most probable first
    pixels: np.ndarray | None = None  # (3, S, S) uint8, the model's input, when asked for

    @property
    def best(self) -> Guess:
        return self.top[0]

    def to_json(self) -> dict:
        return {"path": str(self.path), "class": self.best.name, "probability": self.best.probability,
                "top": [{"class": g.name, "index": g.index, "probability": g.probability} for g in self.top]}


@dataclass
class Unreadable:
    path: Path
    reason: str  # one line


@dataclass
class PredictResult:
    checkpoint: Path
    classes: list[str]
    image_size: int
    tta: bool
    device: str
    temperature: float | None = None  # the calibration's, when one was fitted for this checkpoint
    predictions: list[Prediction] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many images each class was the top-1 prediction of: most first, then class order;
        classes no image went to are left out."""
        tally = [0] * len(self.classes)
        for p in self.predictions:
            tally[p.best.index] += 1
        order = sorted(range(len(self.classes)), key=lambda i: (-tally[i], i))
        return {self.classes[i]: tally[i] for i in order if tally[i]}

    def summary_json(self) -> dict:
        return {"checkpoint": str(self.checkpoint), "images": len(self.predictions),
                "unreadable": [{"path": str(u.path), "error": u.reason} for u in self.unreadable],
                "counts": self.counts(), "classes": self.classes, "image_size": self.image_size,
                "tta": self.tta, "device": self.device, "temperature": self.temperature}


def image_size_of(payload: dict) -> int:
    """The side of the images a checkpoint was trained on (32 for runs from before the setting)."""
    config = payload.get("config") if isinstance(payload.get("config"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    return int(data.get("image_size", 32))


def find_images(paths: Iterable[Path]) -> tuple[list[Path], list[Unreadable]]:
    """The files to predict: each file given (whatever its name; PIL decides), and the image files
    under each folder given, recursively, sorted. Paths that do not exist are returned as unreadable."""
    found: list[Path] = []
    missing: list[Unreadable] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.exists():
            found.append(path)
        else:
            missing.append(Unreadable(path, "no such file or folder"))
    return found, missing


def read_image(path: Path, size: int) -> np.ndarray:
    """(3, size, size) uint8 RGB, resized as data/folders.py resizes training images. Raises
    ValueError with a one-line reason for a file that is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        # Naming the decoders keeps PIL from handing a file to others, such as EPS (Ghostscript).
        with Image.open(path, formats=FORMATS) as image:
            rgb = image.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb)
    except UnidentifiedImageError:
        raise ValueError(f"not an image PIL can read (formats: {', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"too large ({e})") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data; SyntaxError from some decoders
        raise ValueError(f"unreadable image ({type(e).__name__}: {clip(str(e).strip(), 100) or 'no detail'})") from None
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


@torch.no_grad()
def predict_images(checkpoint: Path, paths: Iterable[Path], device_name: str = "auto", top: int = 3,
                   tta: bool = False, keep_pixels: bool = False) -> PredictResult:
    """Predict every image of `paths` (files and folders) with `checkpoint`.

    Raises CheckpointError for a file that is not a usable checkpoint and ValueError for a bad
    device or `top`; images that cannot be read are listed in the result's `unreadable`."""
    if top < 1:
        raise ValueError(f"--top {top} is invalid: expected 1 or more")
    checkpoint = Path(checkpoint)
    payload = checkpoints.load(checkpoint)
    placement = device.resolve(device_name, payload.get("precision", "auto"))
    model = checkpoints.model_from_checkpoint(payload, checkpoint)
    model = model.to(placement.device, memory_format=placement.memory_format).eval()
    classes = [str(c) for c in payload["classes"]]
    size = image_size_of(payload)
    k = min(top, len(classes))
    result = PredictResult(checkpoint, classes, size, tta, placement.describe(), load_temperature(checkpoint))
    files, result.unreadable = find_images(paths)
    for start in range(0, len(files), BATCH):
        chunk, images = [], []
        for path in files[start:start + BATCH]:
            try:
                images.append(read_image(path, size))
                chunk.append(path)
            except ValueError as e:
                result.unreadable.append(Unreadable(path, str(e)))
        if not images:
            continue
        batch = torch.from_numpy(np.stack(images)).to(placement.device)
        x = normalize(batch, payload["mean"], payload["std"]).contiguous(memory_format=placement.memory_format)
        with placement.autocast():
            logits = tta_logits(model, x) if tta else model(x)
        probs, index = (logits.float() / (result.temperature or 1.0)).softmax(-1).topk(k, dim=-1)
        for i, path in enumerate(chunk):
            guesses = [Guess(classes[c], c, p) for p, c in zip(probs[i].tolist(), index[i].tolist())]
            result.predictions.append(Prediction(path, guesses, images[i] if keep_pixels else None))
    return result
