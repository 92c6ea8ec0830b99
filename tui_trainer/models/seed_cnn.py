"""The small CNN from the original notebook, kept layer for layer as the baseline.

Three 3x3 convs with ELU then BatchNorm (activation before norm, as the notebook had it), two
max-pools, and a 100-unit hidden layer with dropout. The classifier's input size is fixed at
width3 * 8 * 8, so this net takes 32x32 images only.
"""
from __future__ import annotations

import torch
from torch import nn

from .elu import ELU

DEFAULT_WIDTHS = [16, 32, 64]
HIDDEN = 100


class SeedCNN(nn.Module):
    def __init__(self, num_classes: int = 10, widths: list[int] = DEFAULT_WIDTHS):
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, w1, 3, padding=1), ELU(), nn.BatchNorm2d(w1),
            nn.Conv2d(w1, w2, 3, padding=1), ELU(), nn.BatchNorm2d(w2),
            nn.MaxPool2d(2),
            nn.Conv2d(w2, w3, 3, padding=1), ELU(), nn.BatchNorm2d(w3),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(w3 * 8 * 8, HIDDEN), ELU(), nn.Dropout(0.5), nn.BatchNorm1d(HIDDEN),
            nn.Linear(HIDDEN, num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # flatten(1) keeps the real batch size; the notebook's view(batch_size, -1) broke on the
        # last, smaller batch
        return self.classifier(self.features(x).flatten(1))


def build(num_classes: int, widths: list[int], zero_gamma: bool = False) -> SeedCNN:
    """zero_gamma is accepted for a uniform signature and ignored: there are no residual blocks."""
    widths = list(widths) or DEFAULT_WIDTHS
    if len(widths) != 3:
        raise ValueError(f"seed_cnn takes 3 widths (conv1, conv2, conv3), got {len(widths)}: {widths}")
    return SeedCNN(num_classes, widths)
