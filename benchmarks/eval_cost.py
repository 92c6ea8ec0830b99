"""What the drill-down data costs an evaluation: the Runs screen's evaluation of a checkpoint on the
test split (each image's prediction and confidence kept, every confusion cell's images listed,
each class's misses and false alarms picked) against the bare forward passes over the same
images, the least any evaluation does. Target (issue 26): at most 1.5x.

    python benchmarks/eval_cost.py CHECKPOINT --data DIR [--rounds 3]

DIR with 10,000 test images: make_cifar10.py DIR --holdout 10000. Alone on the machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer.config import data_settings  # noqa: E402
from tui_trainer.data import load_dataset  # noqa: E402
from tui_trainer.data.pipeline import normalize  # noqa: E402
from tui_trainer.training import checkpoints, device  # noqa: E402
from tui_trainer.training.evaluate import EVAL_BATCH, evaluate_checkpoint  # noqa: E402
from tui_trainer.training.speed_cache import cpu_name  # noqa: E402


@torch.no_grad()
def forward_only(path: Path, data) -> float:  # noqa: ANN001 - a Dataset
    payload = checkpoints.load(path)
    place = device.resolve("auto", payload.get("precision", "auto"))
    model = checkpoints.model_from_checkpoint(payload, path).to(place.device, memory_format=place.memory_format).eval()
    t0 = time.perf_counter()
    for start in range(0, len(data.test_x), EVAL_BATCH):
        x = normalize(data.test_x[start:start + EVAL_BATCH], payload["mean"], payload["std"])
        with place.autocast():
            model(x.contiguous(memory_format=place.memory_format)).float().argmax(-1)
    return time.perf_counter() - t0


def drill_down(path: Path, data) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    result = evaluate_checkpoint(path, data.source, "auto", worst=12, dataset=data)
    result.confusions()
    for c in range(len(result.classes)):
        result.images(true=c, wrong=True)
        result.images(pred=c, wrong=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = data_settings((checkpoints.load(args.checkpoint).get("config") or {}).get("data"))
    data = load_dataset(args.data, settings)
    forward_only(args.checkpoint, data)  # warm-up: oneDNN's kernels chosen, pages touched
    plain, full = [], []
    for _ in range(args.rounds):  # alternated: the machine's drift hits both alike
        plain.append(forward_only(args.checkpoint, data))
        full.append(drill_down(args.checkpoint, data))
    ref = statistics.median(plain)
    print(f"\n{date.today()}  {cpu_name()}  {len(data.test_x):,} test images  {args.checkpoint}")
    print(f"{'what':<58}{'median s':>10}{'worst s':>10}{'ratio':>8}")
    for what, times in (("forward passes only (reference)", plain),
                        ("evaluation with drill-down data (the Runs screen's)", full)):
        print(f"{what:<58}{statistics.median(times):>10.2f}{max(times):>10.2f}{statistics.median(times) / ref:>7.2f}x")
    print("target: at most 1.50x")


if __name__ == "__main__":
    main()
