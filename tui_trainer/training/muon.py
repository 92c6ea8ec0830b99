"""Muon for conv filters, Nesterov SGD for everything else, as one optimizer (one state_dict).

Muon (Keller Jordan, 2024) replaces a filter's momentum by the nearest semi-orthogonal matrix
(Newton-Schulz iterations on the (out, in*k*k) matrix), so every direction of the update moves
by the same amount, and keeps each filter bank at a fixed norm instead of decaying it. In
airbench94 this reaches 94% in 8 epochs instead of 9.9. Biases, norm parameters and the linear
head have no useful matrix shape for it and stay on SGD.

The fixed filter norm assumes what airbench and the ResNets have: a BatchNorm right after each
conv, which makes the conv's scale irrelevant. Where an activation comes first (seed_cnn) the
rescaling changes what the net computes.
"""
from __future__ import annotations

import torch

# Quintic coefficients from Muon: they push singular values towards 1 fast, in few iterations,
# without needing them to converge exactly.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def orthogonalize(g: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """Approximately U V^T of g = U S V^T (g is 2-D), by Newton-Schulz in bf16."""
    a, b, c = NS_COEFFS
    x = g.bfloat16()
    x = x / (x.norm() + 1e-7)  # singular values into [0, 1], where the iteration converges
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return (x.T if tall else x).to(g.dtype)


class MuonSGD(torch.optim.Optimizer):
    """Groups with `muon=True` take Muon steps; the others Nesterov/heavy-ball SGD with L2 decay."""

    def __init__(self, params, lr: float, momentum: float, nesterov: bool = True):
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                                  "weight_decay": 0.0, "muon": False})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] and not group["muon"]:
                    g = g.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(g)
                g = g.add(buf, alpha=momentum) if group["nesterov"] else buf
                if group["muon"]:
                    # Fixed norm per filter bank, sqrt(out_channels): the step size then means
                    # the same thing all run long, and decay has nothing left to do.
                    p.mul_(len(p) ** 0.5 / p.norm().clamp_min(1e-12))
                    g = orthogonalize(g.reshape(len(g), -1)).view_as(p)
                p.add_(g, alpha=-lr)
        return loss
