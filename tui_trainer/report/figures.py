"""The report's figures, drawn by matplotlib off screen and embedded as PNG data URIs.

Figures are made with matplotlib.figure.Figure, not pyplot: no global state, so the app may draw a
report in a worker thread while another is drawn elsewhere.
"""
from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

DPI = 100


def data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_uri(pixels: np.ndarray, scale: int = 3) -> str:
    """A (3, H, W) uint8 image, enlarged `scale` times without smoothing, as a PNG data URI."""
    image = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def curves(epochs: Sequence[int], series: dict[str, dict[str, Sequence[float | None]]]) -> str:
    """One panel per metric ("accuracy %", "loss"), a line per split that has values."""
    fig = Figure(figsize=(10, 3.4))
    colours = {"train": "tab:blue", "test": "tab:green", "validation": "tab:purple"}
    for i, (title, lines) in enumerate(series.items()):
        ax = fig.add_subplot(1, len(series), i + 1)
        for split, values in lines.items():
            points = [(e, v) for e, v in zip(epochs, values) if v is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, label=split, color=colours.get(split))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return data_uri(fig)


def confusion(classes: list[str], matrix: list[list[int]]) -> str:
    k = len(classes)
    side = max(4.0, 0.45 * k + 2)
    fig = Figure(figsize=(side, side))
    ax = fig.add_subplot()
    values = np.array(matrix)
    ax.imshow(values, cmap="Blues")
    if k <= 20:  # the counts are readable up to about this many classes
        top = values.max() or 1
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > top / 2 else "black")
    ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return data_uri(fig)


def reliability(panels: list[tuple[str, list]]) -> str:
    """Reliability diagrams side by side: (title, bins) each, bins with low, high, confidence, accuracy
    and count; the diagonal is perfect calibration."""
    fig = Figure(figsize=(4.2 * len(panels), 4))
    for i, (title, bins) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.plot([0, 1], [0, 1], "--", color="gray", label="calibrated")
        widths = [max(b.high - b.low, 0.01) for b in bins]
        ax.bar([b.low for b in bins], [b.accuracy for b in bins], width=widths, align="edge",
               edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([b.confidence for b in bins], [b.confidence for b in bins], "r.", label="mean confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
    return data_uri(fig)
