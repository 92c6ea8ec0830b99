"""Model, optimizer and batches for a config: what a run trains with, and what the LR finder sweeps."""
from __future__ import annotations

import torch

from ..config import Config
from ..data import Dataset
from ..data.pipeline import Batch, TrainBatches, mixed_loss, normalize
from ..models import build_model
from . import device
from .optim import build_optimizer

WHITENING_IMAGES = 5000


def build_training(cfg: Config, data: Dataset, place: device.Placement, *, fresh: bool = True,
                   shard: tuple[int, int] = (0, 1)) -> tuple[torch.nn.Module, torch.optim.Optimizer, TrainBatches]:
    """Seeded from cfg.run.seed; `fresh` False when a checkpoint's weights will be loaded over them;
    `shard` (rank, world) for one process of several."""
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg.model.name, data.num_classes, cfg.model.widths or None, cfg.model.zero_gamma)
    if fresh and hasattr(model, "init_from_data"):
        # airbench's first conv whitens 2x2 patches: its weights come from the data, not from training.
        model.init_from_data(normalize(data.train_x[:WHITENING_IMAGES], cfg.data.mean, cfg.data.std))
    model = model.to(place.device, memory_format=place.memory_format)
    optimizer = build_optimizer(model, cfg.optimizer)
    batches = TrainBatches(data.train_x.to(place.device), data.train_y.to(place.device), cfg.augment,
                           cfg.data.batch_size, cfg.data.mean, cfg.data.std, data.num_classes, cfg.run.seed,
                           place.device, place.bf16, torch.float32, shard)
    return model, optimizer, batches


def train_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, place: device.Placement,
               label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on `batch`: what the trainer does at every step, and what calibration
    times. Returns the loss and the logits (still on the device: reading them would wait for it)."""
    with place.autocast():
        logits = net(batch.inputs)
        loss = mixed_loss(logits, batch, label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits
