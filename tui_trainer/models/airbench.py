"""The airbench94 network (Keller Jordan, 2024): a whitened 2x2 stem and three conv groups.

What makes it train fast, and so what must be kept:
- the stem is a frozen 2x2 conv set from the data's patch covariance (`init_from_data`), so the
  first learned layer sees decorrelated, unit-variance inputs;
- convs start as identity (dirac) on their first in_channels filters, so a fresh net passes the
  whitened signal through instead of scrambling it;
- BatchNorm has no learned scale (weight frozen at 1) and a high running-stat momentum;
- logits are scaled by 1/9, which acts like a lower temperature at init.
"""
from __future__ import annotations

import torch
from torch import nn

DEFAULT_WIDTHS = [64, 256, 256]
WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL**2  # every eigenvector of the 12-dim patch space, and its negative
WHITEN_EPS = 5e-4
# airbench's 0.6 is the weight kept on the old running stat; PyTorch's momentum is the weight on
# the new batch, hence 1 - 0.6
BN_MOMENTUM = 1 - 0.6
LOGIT_SCALE = 1 / 9


class BatchNorm(nn.BatchNorm2d):
    def __init__(self, num_features: int):
        super().__init__(num_features, eps=1e-12, momentum=BN_MOMENTUM)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        w = self.weight.data
        nn.init.dirac_(w[: w.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = Conv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(out_channels)
        self.conv2 = Conv(out_channels, out_channels)
        self.norm2 = BatchNorm(out_channels)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # pooling before the norm means BN works on a quarter of the pixels
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Airbench(nn.Module):
    def __init__(self, num_classes: int = 10, widths: list[int] = DEFAULT_WIDTHS):
        super().__init__()
        self.whiten = nn.Conv2d(3, WHITEN_WIDTH, WHITEN_KERNEL, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        nn.init.zeros_(self.whiten.bias)
        self.activ = nn.GELU()
        chans = [WHITEN_WIDTH, *widths]
        self.groups = nn.Sequential(*(ConvGroup(a, b) for a, b in zip(chans, chans[1:])))
        # adaptive, so sizes other than 32x32 work; at 32x32 it pools the same 3x3 as airbench's MaxPool2d(3)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the frozen stem to whiten 2x2 patches of `images` (normalized N,3,H,W; a few thousand).

        The covariance is uncentered, as in airbench: the inputs are already mean-normalized.
        """
        w = self.whiten.weight
        x = images.to(device=w.device, dtype=torch.float32)
        k = WHITEN_KERNEL
        patches = x.unfold(2, k, 1).unfold(3, k, 1)  # N, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * k * k)  # rows in (c, kh, kw) order, like conv weights
        cov = patches.T @ patches / patches.size(0)
        # float64 eigh: the smallest eigenvalues of natural-image patches are tiny and we divide by them
        eigvals, eigvecs = torch.linalg.eigh(cov.double())
        eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)  # largest variance first
        scaled = (eigvecs / torch.sqrt(eigvals.clamp_min(0) + WHITEN_EPS)).T.reshape(-1, 3, k, k)
        # both signs, so the GELU that follows keeps the information on either side of zero
        w.copy_(torch.cat([scaled, -scaled]).to(w.dtype))
        self.whiten.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.activ(self.whiten(x)))
        return self.head(self.pool(x).flatten(1)) * LOGIT_SCALE


def build(num_classes: int, widths: list[int], zero_gamma: bool = False) -> Airbench:
    """zero_gamma is accepted for a uniform signature and ignored: there are no residual blocks."""
    widths = list(widths) or DEFAULT_WIDTHS
    if len(widths) != 3:
        raise ValueError(f"airbench takes 3 widths (block1, block2, block3), got {len(widths)}: {widths}")
    return Airbench(num_classes, widths)
