"""Model registry: every architecture the config can name, with a one-line description."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from . import airbench, resnet, seed_cnn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[int, list[int], bool], nn.Module]  # (num_classes, widths, zero_gamma)
    default_widths: list[int]


# default_widths are copies, so a caller editing them cannot change what the builders use
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("seed_cnn", "the notebook's 3-conv CNN with ELU, BatchNorm and dropout (32x32 only)",
              seed_cnn.build, list(seed_cnn.DEFAULT_WIDTHS)),
    ModelSpec("airbench", "airbench94: whitened 2x2 stem + 3 conv groups, fastest to 94%",
              airbench.build, list(airbench.DEFAULT_WIDTHS)),
    ModelSpec("resnet9", "David Page's DAWNBench ResNet-9 with two residual blocks",
              resnet.build_resnet9, list(resnet.RESNET9_WIDTHS)),
    ModelSpec("resnet18", "CIFAR ResNet-18: 3x3 stem, 4 stages of 2 basic blocks",
              resnet.build_resnet18, list(resnet.RESNET18_WIDTHS)),
)}


def build_model(name: str, num_classes: int, widths: list[int] | None = None,
                zero_gamma: bool = False) -> nn.Module:
    """Build `name`; empty or None widths mean the model's default. airbench still needs
    `init_from_data` on training images before it trains well."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (allowed: {', '.join(MODELS)})")
    return MODELS[name].build(num_classes, list(widths or []), zero_gamma)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters only: airbench's frozen stem and BN scales are not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
