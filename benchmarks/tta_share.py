"""TTA on the least-confident share of the test images against TTA on all of them (issue 23).

    python benchmarks/tta_share.py RUN_DIR [RUN_DIR ...] [--share 0.25]

For each finished run, its final weights (last.pt) evaluated on the test split it trained
against: without TTA, with TTA's six views on every image, and with them only on the `--share` the
plain evaluation was least sure of (`run.tta_share`). Prints each accuracy, the difference in
points and the seconds each took on this machine.
"""
from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import torch

from tui_trainer.data import load_dataset
from tui_trainer.training import checkpoints, device
from tui_trainer.training.evaluate import evaluate_model, tta_accuracy
from tui_trainer.training.speed_cache import cpu_label
from tui_trainer.workspace import folder


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--share", type=float, default=0.25)
    args = parser.parse_args()
    print(f"TTA on a share — {date.today()}, {cpu_label()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print(f"| run | net | test images | plain | TTA, all | plain s | TTA s | TTA, {args.share:g} | its s | points |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    diffs = []
    for run_dir in args.runs:
        payload = checkpoints.load(run_dir / "checkpoints" / "last.pt")
        cfg = folder.read_config(run_dir)
        data = load_dataset(folder.run_data(run_dir).source, cfg.data)
        model = checkpoints.model_from_checkpoint(payload)
        place = device.resolve("cpu", payload.get("precision", "auto"))
        model = model.to(memory_format=place.memory_format)
        common = (data.test_x, data.test_y, cfg.data.mean, cfg.data.std, place)
        plain, plain_s = timed(lambda: evaluate_model(model, *common, data.classes))
        full, full_s = timed(lambda: evaluate_model(model, *common, data.classes, tta=True).accuracy)
        part, part_s = timed(lambda: tta_accuracy(model, *common, plain, args.share))
        diffs.append(100 * (part - full))
        print(f"| {run_dir.name} | {'-'.join(map(str, cfg.model.widths))} | {plain.n} | {plain.accuracy:.2%} | "
              f"{full:.2%} | {plain_s:.1f} | {full_s:.1f} | {part:.2%} | {part_s:.1f} | {diffs[-1]:+.2f} |")
    print(f"mean difference {sum(diffs) / len(diffs):+.3f} points, largest {max(diffs, key=abs):+.2f}, "
          f"over {len(diffs)} runs")


if __name__ == "__main__":
    main()
