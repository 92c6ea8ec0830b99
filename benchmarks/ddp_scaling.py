"""Training speed on 1 and 2 processes of this machine (DDP over gloo), one thread each.

Each configuration is a separate `tui-trainer train --json` of the same preset on the same data,
one after the other (never two at once: on 2 cores they would slow each other):

    1 process, 1 thread     the reference: what one process does with one core
    1 process, all threads  how a run trains by default
    2 processes, 1 thread   `--nproc 2`: DDP, gradients all-reduced over gloo every step

    python benchmarks/ddp_scaling.py --data DIR [--preset cpu-quick] [--epochs 1] [--repeats 1]

Prints each one's training img/s (the epochs' own figure: data loading and start-up excluded),
its wall time, and its ratio to the reference. (The GPU machine that is lent has one GPU, so
multi-GPU scaling is not measured here; benchmarks/gpu.sh runs one NCCL rank through torchrun.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from tui_trainer.training.speed_cache import cpu_label


def train(args: argparse.Namespace, runs: Path, threads: int | None, nproc: int) -> tuple[float, float]:
    """img/s over the run's epochs and the wall seconds of the whole command."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "tui_trainer", "train", "--preset", args.preset, "--epochs", str(args.epochs),
               "--data", args.data, "--runs", str(runs), "--device", "cpu", "--json", "--no-bell"]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    epochs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    epochs = [e for e in epochs if "images_per_s" in e]
    seconds = sum(e["seconds"] for e in epochs)
    return sum(e["images_per_s"] * e["seconds"] for e in epochs) / seconds, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="data folder, or 'synthetic'")
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="passes over the configurations")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    configs = [("1 process, 1 thread", 1, 1), (f"1 process, {cores} threads", None, 1),
               ("2 processes, 1 thread each", 1, 2)]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, threads, nproc in configs:
                results[name].append(train(args, Path(tmp), threads, nproc))
                print(f"  {name}: {results[name][-1][0]:,.0f} img/s", file=sys.stderr)
    best = {name: max(r[0] for r in runs) for name, runs in results.items()}
    reference = best[configs[0][0]]
    print(f"# DDP scaling, {date.today()}, {cpu_label()}, {cores} cores: "
          f"{args.preset}, {args.epochs} epoch(s) on {args.data}, best of {args.repeats}")
    print("| configuration | img/s | wall s | vs reference |")
    print("|---|---:|---:|---:|")
    for name, runs in results.items():
        wall = min(r[1] for r in runs)
        print(f"| {name} | {best[name]:,.0f} | {wall:.1f} | {best[name] / reference:.2f}x |")


if __name__ == "__main__":
    main()
