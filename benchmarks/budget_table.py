"""The budget planner's accuracy table: final test accuracy (TTA) of the `fast` recipe at each net
width and epoch count of a small grid, each point its own run with the schedule compressed to its
epochs (`--epochs E` keeps the warmup's share), two seeds each, on real CIFAR-10. Accuracy at a
recipe and an epoch count does not depend on the machine, so this is measured once; a machine's
speed is the calibration's business.

It also trains one held-out point (48-96-96 for 5 epochs, not in the grid) and reports how far the
table's interpolation lands from it. It writes its table into tui_trainer/training/accuracy_table.json
(one a batch size: the planner chooses among them; another batch size's table stays), with the
data, the CPU, the date, the commit and this command beside the numbers.

    python benchmarks/budget_table.py --data DIR [--batch-size N] [--seeds 2] [--runs /tmp/budget-table-runs]
    python benchmarks/budget_table.py --data DIR --nets 64-128-128 [--batch-size N]

`--nets` measures those nets' points of the grid that the table of that batch size already in the
file lacks, and adds them (its other points and held-out check stay; `about.added` says when).

DIR: `python ../shared/data/make_cifar10.py DIR` (45,000 training images, 5,000 held out). Points
run one after another (two at once slow each other far more than twice); about 40 minutes on a
2-core Xeon with AMX.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer import presets  # noqa: E402
from tui_trainer.data import estimate_train_size  # noqa: E402
from tui_trainer.training.budget import TABLE_FILE, Point, Table, recipe_hash, shipped_tables  # noqa: E402
from tui_trainer.training.speed_cache import cpu_label  # noqa: E402

PRESET = "fast"
GRID = [([32, 64, 64], 1), ([32, 64, 64], 3), ([32, 64, 64], 9),
        ([48, 96, 96], 1), ([48, 96, 96], 3), ([48, 96, 96], 9),
        # between 48-96-96 and 64-256-256 in speed (calibrated on the AMX Xeon: 0.70x the first's
        # img/s, 2.0x the second's): for 4 epochs it beat 48-96-96 for 5 in the same wall time
        # (86.5% against 86.1%, two seeds each)
        ([64, 128, 128], 1), ([64, 128, 128], 3), ([64, 128, 128], 9),
        # 9 epochs (added later): without it a plan never trained this net past 3 epochs, and budgets
        # of airbench94's full run and longer kept 64-128-128, which levels off under 90%
        ([64, 256, 256], 1), ([64, 256, 256], 3), ([64, 256, 256], 9)]
HELD_OUT = ([48, 96, 96], 5)


def train(widths: list[int], epochs: int, seed: int, batch_size: int, data: str, runs: str) -> tuple[float, float]:
    """(final accuracy with TTA, seconds) of one run, as a user would start it."""
    cmd = [sys.executable, "-m", "tui_trainer", "train", "--preset", PRESET, "--epochs", str(epochs),
           "--set", f"model.widths={','.join(map(str, widths))}", "--set", f"run.seed={seed}",
           "--set", f"data.batch_size={batch_size}",
           "--data", data, "--runs", runs, "--json"]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    finished = [json.loads(line) for line in out.stdout.splitlines() if '"finished"' in line]
    if out.returncode or not finished:
        raise SystemExit(f"{widths} x {epochs}: exit {out.returncode}: {(out.stderr or out.stdout)[-500:]}")
    return finished[-1]["final_acc"], seconds


def measure(grid: list[tuple[list[int], int]], args, batch_size: int) -> list[Point]:
    points = []
    for widths, epochs in grid:
        accs = []
        for seed in range(args.seeds):
            acc, took = train(widths, epochs, seed, batch_size, args.data, args.runs)
            accs.append(acc)
            print(f"{'-'.join(map(str, widths)):>10} x {epochs} epochs, seed {seed}: {acc:.2%} in {took:.0f} s",
                  flush=True)
        points.append(Point(widths, float(epochs), accs))
    return points


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()


def add_nets(args, cfg, train_images: int) -> None:
    nets = [[int(w) for w in net.split("-")] for net in args.nets]
    grid = [(w, e) for w, e in GRID if w in nets]
    if len({tuple(w) for w, _ in grid}) != len(nets):
        raise SystemExit(f"--nets: every net must be in the grid ({sorted({'-'.join(map(str, w)) for w, _ in GRID})})")
    recipe, batch_size = recipe_hash(cfg), cfg.data.batch_size
    tables = list(shipped_tables())
    table = next((t for t in tables if (t.recipe, t.batch_size) == (recipe, batch_size)), None)
    if table is None:
        raise SystemExit(f"--nets adds to the table of batch {batch_size}, and the file has none for this "
                         f"recipe: measure the whole grid first (without --nets)")
    if table.train_images != train_images:
        raise SystemExit(f"--nets: the table of batch {batch_size} was measured on {table.train_images:,} training "
                         f"images, DIR has {train_images:,}: points on other data would not compare")
    # points of one recipe hash do not age: only the missing ones are trained
    have = {(tuple(p.widths), p.epochs) for p in table.points}
    grid = [(w, e) for w, e in grid if (tuple(w), float(e)) not in have]
    if not grid:
        raise SystemExit(f"--nets: the table of batch {batch_size} has every grid point of {' '.join(args.nets)}")
    table.points += measure(grid, args, batch_size)
    table.about.setdefault("added", []).append({
        "nets": args.nets, "cpu": cpu_label(), "date": str(date.today()), "commit": commit(),
        "command": f"python benchmarks/budget_table.py --data DIR --seeds {args.seeds} --batch-size {batch_size} "
                   f"--nets {' '.join(args.nets)}"})
    TABLE_FILE.write_text(json.dumps({"tables": [t.to_json() for t in tables]}, indent=1) + "\n")
    print(f"wrote {TABLE_FILE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--runs", default="/tmp/budget-table-runs")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the batch size to measure (the preset's by default); the file keeps one table a batch size")
    parser.add_argument("--nets", nargs="+", default=None, metavar="W-W-W",
                        help="measure these nets' grid points that the batch size's table in the file lacks, and add them")
    args = parser.parse_args()
    cfg, _ = presets.resolve(PRESET)
    if args.batch_size:
        cfg.set("data.batch_size", args.batch_size)
    train_images = estimate_train_size(args.data)
    if args.nets:
        add_nets(args, cfg, train_images)
        return
    points = measure(GRID + [HELD_OUT], args, cfg.data.batch_size)
    grid, held = points[:-1], points[-1]
    table = Table(recipe_hash(cfg), PRESET, train_images, cfg.data.batch_size,
                  cfg.schedule.warmup_epochs / cfg.run.epochs, grid)
    predicted, _ = table.expected(held.widths, held.epochs * train_images)
    table.about = {
        "data": f"{train_images:,} training images of real CIFAR-10 (JPEG photos, ../shared/data/make_cifar10.py), "
                f"accuracy on its held-out test_batch",
        "cpu": cpu_label(), "date": str(date.today()), "commit": commit(),
        "command": f"python benchmarks/budget_table.py --data DIR --seeds {args.seeds} --batch-size {cfg.data.batch_size}",
        "held_out": {"widths": held.widths, "epochs": held.epochs, "measured": round(held.mean, 5),
                     "interpolated": round(predicted, 5), "error": round(predicted - held.mean, 5)},
    }
    kept = [t.to_json() for t in shipped_tables() if (t.recipe, t.batch_size) != (table.recipe, table.batch_size)]
    TABLE_FILE.write_text(json.dumps({"tables": kept + [table.to_json()]}, indent=1) + "\n")
    print(f"\nheld out {'-'.join(map(str, held.widths))} x {held.epochs:g}: measured {held.mean:.2%}, "
          f"interpolated {predicted:.2%} (error {predicted - held.mean:+.2%})")
    print(f"wrote {TABLE_FILE}")


if __name__ == "__main__":
    main()
