"""The frontier (issue 23): `--budget` of half airbench94's time against airbench94 itself.

    python benchmarks/frontier.py DATA_DIR [--epochs 2.5 --epochs 5 --epochs 9.9] [--passes 2]

For each E, airbench94 (Keller Jordan's file, ../shared/bench/airbench94_cpu.py, bf16 only where
this CPU computes it) trains E epochs; right after it, `tui-trainer train --preset fast --budget B`
with B half of that reference's wall time, on the same data (`make_cifar10.py DIR --holdout 10000`:
40,000 training images, 10,000 held out). Both are processes timed from start to exit, one after
the other (two trainings at once on 2 cores slow each other far more than twice). The target: at
every E, the budgeted run's final (TTA) accuracy reaches airbench94's. Each pair runs `--passes`
times; the machine drifts about +-10%.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

from tui_trainer.training.speed_cache import cpu_label

AIRBENCH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "airbench94_cpu.py"


def timed(cmd: list[str]) -> tuple[float, list[dict], str]:
    """A process's wall time, the JSON objects it printed, and its stderr's tail."""
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])}...: exit {out.returncode}: {(out.stderr or out.stdout).strip()[-600:]}")
    return seconds, [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")], out.stderr


def airbench(data: str, epochs: float) -> dict:
    seconds, lines, _ = timed([sys.executable, str(AIRBENCH), data, "--epochs", str(epochs)])
    final = lines[-1]
    return {"wall": seconds, "acc": final["tta_acc"], "seconds": final["seconds"], "precision": final["precision"]}


def budgeted(data: str, budget_s: float, runs: str) -> dict:
    seconds, events, _ = timed([sys.executable, "-m", "tui_trainer", "train", "--preset", "fast", "--budget",
                                f"{budget_s:.1f}s", "--data", data, "--runs", runs, "--json"])
    finished = [e for e in events if e["event"] == "finished"][-1]
    plan = next(e for e in events if e["event"] == "plan")
    epochs = [e for e in events if e["event"] == "epoch"]
    return {"wall": seconds, "acc": finished["final_acc"], "epochs": len(epochs),
            "net": "-".join(map(str, plan["widths"])) + f" b{plan.get('batch_size')}", "expected": plan["expected_acc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=float, action="append", help="airbench94's epochs; repeatable "
                        "(default 2.5, 5, 9.9)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--runs", default="/tmp/tui-trainer-frontier-runs")
    args = parser.parse_args()
    if not AIRBENCH.is_file():
        raise SystemExit(f"frontier: {AIRBENCH} is missing (the reference lives in the workspace's shared/bench)")
    rows = []
    for n in range(args.passes):
        for epochs in args.epochs or [2.5, 5.0, 9.9]:
            ref = airbench(args.data, epochs)
            ours = budgeted(args.data, ref["wall"] / 2, args.runs)
            rows.append((n + 1, epochs, ref, ours))
            print(f"pass {n + 1}, {epochs} epochs: airbench94 {ref['acc']:.2%} in {ref['wall']:.1f} s; "
                  f"--budget {ref['wall'] / 2:.1f}s {ours['acc']:.2%} in {ours['wall']:.1f} s", file=sys.stderr,
                  flush=True)
    print(f"frontier — {date.today()}, {cpu_label()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"data {args.data}")
    print("| pass | airbench94 epochs | its wall s (precision) | its TTA acc | --budget | our wall s | ratio "
          "| our net, batch, epochs | our final (TTA) | points | met |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for n, epochs, ref, ours in rows:
        points = 100 * (ours["acc"] - ref["acc"])
        print(f"| {n} | {epochs:g} | {ref['wall']:.1f} ({ref['precision']}) | {ref['acc']:.2%} | "
              f"{ref['wall'] / 2:.1f} s | {ours['wall']:.1f} | {ours['wall'] / ref['wall']:.2f}x | {ours['net']}, {ours['epochs']} | "
              f"{ours['acc']:.2%} | {points:+.2f} | {'yes' if points >= 0 else 'no'} |")


if __name__ == "__main__":
    main()
