"""Raw train-step speed of a model on random tensors (no data pipeline): the ceiling for the engine.

GFLOP/s (forward + backward, counted by torch's FlopCounterMode) tells how close a step comes to
what the CPU can do at all, and so whether a faster recipe can still come from faster kernels.

    python benchmarks/train_step.py [--model seed_cnn] [--batch 32] [--steps 100]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tui_trainer.models import build_model


def img_per_s(model_name: str, batch: int, steps: int, bf16: bool, channels_last: bool) -> float:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(model_name, 10).to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def gflop_per_image(model_name: str) -> float:
    model = build_model(model_name, 10)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / len(x) / 1e9


def matmul_gflops(n: int = 2048, reps: int = 20) -> float:
    """A large bf16 matmul: about the most this CPU does in bf16, the ceiling for any conv."""
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="seed_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    gflop = gflop_per_image(args.model)
    print(f"| {args.model}, batch {args.batch}, {gflop:.3f} GFLOP an image | img/s | GFLOP/s |\n|---|---:|---:|")
    for label, bf16, cl in (("fp32", False, False), ("bf16 autocast", True, False), ("bf16 + channels_last", True, True)):
        speed = img_per_s(args.model, args.batch, args.steps, bf16, cl)
        print(f"| {label} | {speed:,.0f} | {speed * gflop:,.0f} |")
    print(f"| (ceiling: bf16 matmul 2048x2048) | | {matmul_gflops():,.0f} |")


if __name__ == "__main__":
    main()
