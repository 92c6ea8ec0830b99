"""A small learnable stand-in for CIFAR-10, for trying the tool offline and for tests.

Each class is a pattern (stripes at four angles, checkers, rings, a blob, dots, a cross, a frame)
drawn in a class colour on a random background. Per image the pattern is shifted, its scale and
colour vary and pixel noise is added, so a network has to learn shapes rather than memorize images;
a small CNN still gets above 90% in a couple of epochs.
"""
from __future__ import annotations

import math

import torch

from tui_trainer.data import SYNTHETIC_TEST, SYNTHETIC_TRAIN, Dataset

TAU = 2 * math.pi

# Foreground weight in [0, 1] at offsets (u, v) from the pattern centre, with scale t.
PATTERNS = {
    "stripes-h": lambda u, v, t: 0.5 + 0.5 * torch.cos(TAU * v / t),
    "stripes-v": lambda u, v, t: 0.5 + 0.5 * torch.cos(TAU * u / t),
    "stripes-d": lambda u, v, t: 0.5 + 0.5 * torch.cos(TAU * (u + v) / (t * math.sqrt(2))),
    "stripes-a": lambda u, v, t: 0.5 + 0.5 * torch.cos(TAU * (u - v) / (t * math.sqrt(2))),
    "checker": lambda u, v, t: (torch.cos(TAU * u / t) * torch.cos(TAU * v / t) > 0).float(),
    "rings": lambda u, v, t: 0.5 + 0.5 * torch.cos(TAU * torch.hypot(u, v) / t),
    "blob": lambda u, v, t: torch.exp(-(torch.hypot(u, v) / t) ** 2),
    "dots": lambda u, v, t: (torch.cos(TAU * u / t) + torch.cos(TAU * v / t) > 1.2).float(),
    "cross": lambda u, v, t: ((u.abs() < t / 4 + 1) | (v.abs() < t / 4 + 1)).float(),
    "frame": lambda u, v, t: ((torch.maximum(u.abs(), v.abs()) - t).abs() < 1.5).float(),
}
CLASSES = list(PATTERNS)
COLORS = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.3, 0.9], [0.9, 0.8, 0.2],
                       [0.8, 0.3, 0.8], [0.2, 0.8, 0.8], [0.95, 0.55, 0.1], [0.6, 0.9, 0.5],
                       [0.5, 0.6, 1.0], [0.95, 0.95, 0.95]])


def make_synthetic(n_train: int = SYNTHETIC_TRAIN, n_test: int = SYNTHETIC_TEST, seed: int = 0, size: int = 32) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    # Each split has its classes balanced, in random order.
    y = torch.cat([torch.randperm(n, generator=g) % len(CLASSES) for n in (n_train, n_test)])
    x = _images(y, size, g)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], list(CLASSES), "synthetic")


def _images(y: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    n = len(y)
    center = size / 4 + torch.rand(n, 2, generator=g) * (size / 2)
    period = 4 + 4 * torch.rand(n, generator=g)
    fg = (COLORS[y] + 0.15 * torch.randn(n, 3, generator=g)).clamp(0, 1)
    bg = 0.45 * torch.rand(n, 3, generator=g)
    noise = 0.1 * torch.randn(n, 3, size, size, generator=g)
    grid = torch.arange(size, dtype=torch.float32)
    mask = torch.empty(n, size, size)
    for c, name in enumerate(CLASSES):
        i = (y == c).nonzero().squeeze(1)
        v = grid.view(1, -1, 1) - center[i, 0].view(-1, 1, 1)  # row offset from the pattern centre
        u = grid.view(1, 1, -1) - center[i, 1].view(-1, 1, 1)
        mask[i] = PATTERNS[name](u, v, period[i].view(-1, 1, 1))
    images = bg[:, :, None, None] + (fg - bg)[:, :, None, None] * mask[:, None] + noise
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)

