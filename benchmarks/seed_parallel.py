"""Does `train --seeds N --parallel P` pay on this machine? A seed group trained one run after
another (every core each) against P runs at a time (the cores split between them), as processes
from start to exit, on the same data; alternated so the machine's drift hits both alike.

    python benchmarks/seed_parallel.py --data DIR [--preset cpu-quick] [--seeds 2] [--parallel 2] [--rounds 1]

Prints the CPU, both sides' wall time and mean final accuracy, and the ratio; `--parallel` is
worth offering as a default only where the ratio is below 1 (BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer.training.speed_cache import cpu_name  # noqa: E402
from tui_trainer.workspace.listing import list_rows  # noqa: E402


def group(args: argparse.Namespace, parallel: int) -> tuple[float, float]:
    runs = Path(tempfile.mkdtemp(prefix="seed-parallel-"))
    cli = [sys.executable, "-m", "tui_trainer", "train", "--preset", args.preset, "--seeds", str(args.seeds),
           "--data", args.data, "--runs", str(runs), "--no-bell"] + (["--parallel", str(parallel)] if parallel > 1 else [])
    t0 = time.perf_counter()
    subprocess.run(cli, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    finals = [r.summary.final_acc for r in list_rows(runs) if r.summary.final_acc is not None]
    assert len(finals) == args.seeds, f"{len(finals)} of {args.seeds} runs finished in {runs}"
    return wall, statistics.fmean(finals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    sides: dict[int, list[tuple[float, float]]] = {1: [], args.parallel: []}
    for _ in range(args.rounds):
        for p in sides:
            sides[p].append(group(args, p))
            print(f"  {args.seeds} seeds, {p} at a time: {sides[p][-1][0]:.1f} s, final {sides[p][-1][1]:.2%}",
                  flush=True)
    print(f"\n{date.today()}  {cpu_name()}  {len(os.sched_getaffinity(0))} cores  preset {args.preset}, "
          f"{args.seeds} seeds, data {args.data}")
    print(f"{'how':<34}{'wall s':>10}{'final acc':>12}{'ratio':>8}")
    one = statistics.median(w for w, _ in sides[1])
    for p, got in sides.items():
        wall = statistics.median(w for w, _ in got)
        how = "one after another (reference)" if p == 1 else f"--parallel {p}"
        print(f"{how:<34}{wall:>10.1f}{statistics.fmean(a for _, a in got):>12.2%}{wall / one:>7.2f}x")


if __name__ == "__main__":
    main()
