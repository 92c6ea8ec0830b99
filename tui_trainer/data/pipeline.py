"""Training and evaluation batches made on the training device, with no per-image Python.

Once per epoch the whole training set is cropped, flipped, cut out and shuffled by one gather and
one scatter; a step then only slices the next batch, converts and normalizes it in two kernels and,
when asked, mixes it. At batch 32 an epoch of CIFAR-10 is ~1,400 steps, so a step must cost little
more than the kernels themselves and must never wait for the device.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from tui_trainer.config import AugmentConfig
from tui_trainer.data import DataError

# Separate random streams per (seed, epoch): turning e.g. MixUp on leaves crops and order alone.
_AUGMENT, _MIX, _FIRST_FLIPS, _FIXED = 1, 2, 3, 4


class Batch(NamedTuple):
    inputs: torch.Tensor
    targets_a: torch.Tensor
    targets_b: torch.Tensor  # labels of the images mixed in; targets_a when the batch is not mixed
    lam: float  # loss weight of targets_a; 1.0 when the batch is not mixed


class TrainBatches:
    """Augmented, shuffled training batches for one data set on one device."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, aug: AugmentConfig, batch_size: int,
                 mean: Sequence[float], std: Sequence[float], num_classes: int, seed: int,
                 device: torch.device | str, channels_last: bool, dtype: torch.dtype,
                 shard: tuple[int, int] = (0, 1)):
        """`shard` (rank, world): this process's slice of every global batch of `batch_size`."""
        if batch_size > len(x):
            raise DataError(f"batch size {batch_size} is larger than the {len(x)} training images: "
                            "lower data.batch_size")
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise DataError(f"training labels must be class indices 0..{num_classes - 1}; "
                            "the data set and its class list disagree")
        self.aug, self.batch_size, self.seed, self.dtype = aug, batch_size, seed, dtype
        self.rank, self.world = shard
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))
        self.n, self.height, self.width = len(x), x.shape[-2], x.shape[-1]
        self.device = torch.device(device)
        self.y = y.to(self.device)
        self.mixers = [(mix, alpha) for mix, alpha in ((_mixup, aug.mixup_alpha),
                                                       (_cutmix, aug.cutmix_alpha)) if alpha > 0]
        p = aug.crop_padding
        source = x.to(self.device)
        if p:  # padded once here; each epoch's crops are then windows of this tensor
            mode = "reflect" if aug.pad_mode == "reflect" else "constant"
            source = F.pad(source, (p, p, p, p), mode=mode)
        if aug.flip != "none":
            # Flipped copies next to the originals let one gather crop, flip and shuffle at once,
            # about 3x faster than flipping the chosen half afterwards, for twice the memory.
            source = torch.cat([source, source.flip(3)])
        # Gathers keep the source's memory format, so epochs and batches come out channels_last
        # without a copy per step.
        self.source = source.contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        # 'alternating' (from airbench) flips each image at random in epoch 0 and then every epoch
        # flips it the other way, so any two consecutive epochs see both orientations.
        g = torch.Generator().manual_seed(stream_seed(seed, 0, _FIRST_FLIPS))
        self.first_flips = torch.rand(self.n, generator=g) < 0.5

    @property
    def steps_per_epoch(self) -> int:
        # The last partial batch is dropped: it would get a full step's learning rate from few
        # images and noisy BatchNorm statistics. The shuffle changes, so no image is always left out.
        return self.n // self.batch_size

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches of epoch `epoch` (0-based); the same seed and epoch give the same batches."""
        images, order = self._augment(epoch)
        labels = self.y[order]
        # Every rank draws the same mixing numbers, so each slice of a global batch is mixed with
        # the same lam; the pairs are drawn within a slice, so N processes pair differently than one.
        rng = np.random.default_rng(stream_seed(self.seed, epoch, _MIX))
        b = self.batch_size // self.world
        for start in range(0, self.steps_per_epoch * b, b):
            inputs = normalize(images[start:start + b], self.mean, self.std, self.dtype)
            yield self._mix(inputs, labels[start:start + b], rng)

    def augmented(self, epoch: int) -> torch.Tensor:
        """Epoch `epoch`'s augmented uint8 images in data-set order, as `epoch` sees them."""
        return self._augment(epoch, shuffle=False)[0]

    def _augment(self, epoch: int, shuffle: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        n, p, aug = self.n, self.aug.crop_padding, self.aug
        # Drawn on the CPU, in the same order whatever is used, so a seed gives the same epoch on
        # every device and augmented() matches epoch().
        g = torch.Generator().manual_seed(stream_seed(self.seed, epoch, _AUGMENT))
        order = torch.randperm(n, generator=g)
        if not shuffle:
            order = torch.arange(n)
        # augment.fixed: each image's crop, flip and cutout drawn once, from a stream of their own,
        # as a list made of a torchvision dataset holds them (the seed notebook's loader).
        draws = torch.Generator().manual_seed(stream_seed(self.seed, 0, _FIXED)) if aug.fixed else g
        dy, dx = torch.randint(0, 2 * p + 1, (2, n), generator=draws)[:, order]
        index = order
        if aug.flip == "alternating":
            index = order + n * (self.first_flips[order] ^ bool(epoch % 2))
        elif aug.flip == "random":
            index = order + n * (torch.rand(n, generator=draws)[order] < 0.5)
        if aug.cutout:
            # Squares lie wholly inside the image, so every image loses the same area.
            s = min(aug.cutout, self.height, self.width)
            top = torch.randint(0, self.height - s + 1, (n, 1), generator=draws)
            left = torch.randint(0, self.width - s + 1, (n, 1), generator=draws)
            if aug.fixed:  # drawn per image, not per position in the epoch
                top, left = top[order], left[order]
        mine = self._my_positions()
        if mine is not None:  # drawn for the whole epoch above, so every world size sees the same epoch
            order, dy, dx, index = order[mine], dy[mine], dx[mine], index[mine]
            if aug.cutout:
                top, left = top[mine], left[mine]
        # Every crop window as a view (N, C, 2p+1, 2p+1, H, W); indexing picks one per image.
        windows = self.source.unfold(2, self.height, 1).unfold(3, self.width, 1)
        images = windows[index.to(self.device), :, dy.to(self.device), dx.to(self.device)]
        if aug.cutout:
            rows = (top + torch.arange(s)).to(self.device)
            cols = (left + torch.arange(s)).to(self.device)
            image = torch.arange(len(images), device=self.device)[:, None, None]
            images[image, :, rows[:, :, None], cols[:, None, :]] = 0
        return images, order.to(self.device)

    def _my_positions(self) -> torch.Tensor | None:
        """Positions in the epoch's order that this rank trains: its slice of each global batch."""
        if self.world == 1:
            return None
        steps, b = self.steps_per_epoch, self.batch_size // self.world
        return torch.arange(steps * self.batch_size).view(steps, self.world, b)[:, self.rank].flatten()

    def _mix(self, inputs: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator) -> Batch:
        if not self.mixers or rng.random() >= self.aug.mix_prob:
            return Batch(inputs, targets, targets, 1.0)
        mix, alpha = self.mixers[rng.integers(len(self.mixers))]
        inputs, lam = mix(inputs, float(rng.beta(alpha, alpha)), rng)
        # The batch is already shuffled, so pairing it with itself reversed is a random pairing
        # that needs no index tensor (as timm does).
        return Batch(inputs, targets, targets.flip(0), lam)


def _mixup(x: torch.Tensor, lam: float, rng: np.random.Generator) -> tuple[torch.Tensor, float]:
    return x.flip(0).mul_(1 - lam).add_(x, alpha=lam), lam


def _cutmix(x: torch.Tensor, lam: float, rng: np.random.Generator) -> tuple[torch.Tensor, float]:
    # A box of about (1 - lam) of the area, centred anywhere and clipped at the border; lam is
    # then recomputed from the clipped box so the loss weights match the pixels.
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    ch, cw = round(h * cut), round(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - ch // 2, 0), min(cy - ch // 2 + ch, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx - cw // 2 + cw, w)
    x[..., y0:y1, x0:x1] = x[..., y0:y1, x0:x1].flip(0)
    return x, 1 - (y1 - y0) * (x1 - x0) / (h * w)


def mixed_loss(logits: torch.Tensor, batch: Batch, label_smoothing: float) -> torch.Tensor:
    """lam * CE(targets_a) + (1 - lam) * CE(targets_b); a single CE for unmixed batches."""
    loss = F.cross_entropy(logits, batch.targets_a, label_smoothing=label_smoothing)
    if batch.lam == 1.0:
        return loss
    other = F.cross_entropy(logits, batch.targets_b, label_smoothing=label_smoothing)
    return batch.lam * loss + (1 - batch.lam) * other


def test_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, mean: Sequence[float],
                 std: Sequence[float], channels_last: bool = False
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Evaluation batches of uint8 `x` in data-set order, the last one partial; no augmentation."""
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)  # once, so batches need no copy
    for start in range(0, len(x), batch_size):
        yield normalize(x[start:start + batch_size], mean, std), y[start:start + batch_size]


test_batches.__test__ = False  # not a test, also when a test module imports it by name


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(x / 255 - mean) / std for uint8 images, as one multiply-add; mean and std per channel."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last)
    scale, shift = _affine(tuple(map(float, mean)), tuple(map(float, std)), x.shape[1:],
                           channels_last, x.device, dtype)
    return torch.addcmul(shift, x.to(dtype), scale)


@functools.cache
def _affine(mean: tuple[float, ...], std: tuple[float, ...], shape: torch.Size, channels_last: bool,
            device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # Whole-image constants laid out like the images: with every operand contiguous, addcmul
    # vectorizes, where (C, 1, 1) broadcasts made it 2-5x slower on CPU. Cached, because making
    # them per step would cost a host-to-device copy, which waits for the GPU.
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1).expand(1, *shape)
    s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1).expand(1, *shape)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return tuple(t.to(device, dtype).contiguous(memory_format=layout) for t in (1 / (255 * s), -m / s))


def stream_seed(seed: int, index: int, stream: int) -> int:
    """The seed of random stream `stream` for item `index` (an epoch, a rank) of a run's seed."""
    # SeedSequence hashes the words into unrelated seeds; sums such as seed + epoch would collide.
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1, np.uint64)[0])
