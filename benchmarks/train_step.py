"""Raw train-step speed of a model on random tensors (no data pipeline): the ceiling for the engine.

    python benchmarks/train_step.py [--model seed_cnn] [--batch 32] [--steps 100]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="seed_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    print(f"| {args.model}, batch {args.batch} | img/s |\n|---|---:|")
    for label, bf16, cl in (("fp32", False, False), ("bf16 autocast", True, False), ("bf16 + channels_last", True, True)):
        print(f"| {label} | {img_per_s(args.model, args.batch, args.steps, bf16, cl):,.0f} |")


if __name__ == "__main__":
    main()
