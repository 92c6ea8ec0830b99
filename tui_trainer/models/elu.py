"""ELU as max(x, e^min(x, 0) - 1), numerically the same as nn.ELU (alpha 1).

For x > 0, e^0 - 1 = 0 < x; for x <= 0, e^x - 1 >= x: the larger of the two is ELU, with no
branch. This torch build's CPU expm1 kernel is not vectorized (0.8-1.0 ms per million values on
the AMX Xeon against 0.19-0.36 ms for exp; nn.ELU took 4.7 ms on another CPU), and torch.where
is slow on CPU too, so the forward is four vectorized passes (clamp, exp, subtract, maximum) and
the backward two. Passes over memory are what ELU costs on a CPU: four, against six for
relu(x) + exp2(min(x, 0)) - 1 before, made the seed CNN's bf16 train step at batch 32 9% faster
on the AMX Xeon (one batch over and over, median of 5 interleaved rounds).
"""
from __future__ import annotations

import torch
from torch import nn


class _ELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clamp(max=0).exp_().sub_(1)
        torch.maximum(y, x, out=y)
        # The output is saved, not e^min(x, 0): BatchNorm after it keeps it anyway.
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        # grad * (1 for x > 0, e^x = y + 1 otherwise), as grad + grad * min(y, 0)
        return torch.addcmul(grad, grad, y.clamp(max=0))


class ELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ELU.apply(x)
