"""Exponential moving average of a model's weights, used in place of the weights for evaluation."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class WeightEMA:
    """`ema = decay * ema + (1 - decay) * weights` after every step, over parameters and buffers.

    BatchNorm running statistics are averaged too, so the EMA weights are evaluated with statistics
    that belong to them. Integer buffers (BatchNorm's batch counter) cannot be averaged and are copied.
    Create it after the model is on its device: the averages live beside the weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._floats = [k for k, v in self.shadow.items() if v.is_floating_point()]
        self._others = [k for k, v in self.shadow.items() if not v.is_floating_point()]

    @staticmethod
    def _current(model: nn.Module, keys: list[str]) -> list[torch.Tensor]:
        # Looked up on every call: moving the model or changing its memory format swaps the tensors.
        state = model.state_dict()
        return [state[k] for k in keys]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if self._floats:
            # One call for all tensors: a multi-tensor kernel on CUDA, and no Python loop on CPU.
            torch._foreach_lerp_([self.shadow[k] for k in self._floats], self._current(model, self._floats),
                                 1.0 - self.decay)
        for k, v in zip(self._others, self._current(model, self._others)):
            self.shadow[k].copy_(v)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        keys = list(self.shadow)
        torch._foreach_copy_(self._current(model, keys), [self.shadow[k] for k in keys])

    @contextmanager
    def swapped(self, model: nn.Module) -> Iterator[nn.Module]:
        """Evaluate with the EMA weights inside the block; the training weights come back after it."""
        keys = list(self.shadow)
        with torch.no_grad():
            saved = [t.clone() for t in self._current(model, keys)]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self._current(model, keys), saved)

    def state_dict(self) -> dict[str, torch.Tensor]:
        # Tensors only, so a checkpoint holding it loads with torch.load(weights_only=True).
        return {k: v.clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state.keys() != self.shadow.keys():
            missing, extra = self.shadow.keys() - state.keys(), state.keys() - self.shadow.keys()
            raise KeyError(f"EMA state does not match the model: missing {sorted(missing)}, "
                           f"unexpected {sorted(extra)}")
        with torch.no_grad():
            for k, v in state.items():
                self.shadow[k].copy_(v)
