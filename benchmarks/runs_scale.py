"""The runs workspace at scale: 1,000 run folders, the Runs screen (F3), sort, filter, CSV export.

    python benchmarks/runs_scale.py [--runs 1000] [--keep DIR]

Generates run folders holding what a real run writes (config.toml, summary.json, metrics.csv
with 20 epochs, events.jsonl, notes.json, a small best.pt and last.pt in the checkpoint format),
with a few settings varied so the table has diff columns, then measures against the issue's
targets: the F3 screen showing the whole table (< 1 s, from the key press to the table drawn;
as a user meets it, the app having composed the screen unseen in its first idle second, and
cold, pressed before that),
sorting and filtering it (< 100 ms each, table redrawn), and `tui-trainer runs --csv` as a
process from start to exit (< 2 s).

    python benchmarks/runs_scale.py --groups 1000 --seeds 5

Seed groups instead (issue 24): 1,000 settings of 5 seeds each (5,000 folders); grouping the
listed runs by settings with their intervals on the Runs screen (`g`, the table redrawn: < 1 s),
sort and filter of the grouped view (< 100 ms), and `tui-trainer runs --group settings --json` as a
process (< 3 s).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer.config import Config  # noqa: E402
from tui_trainer.workspace.fixtures import write_run_folder  # noqa: E402
from tui_trainer.workspace.notes import Notes  # noqa: E402

EPOCHS = 20


def small_checkpoint(folder: Path) -> bytes:
    """A real checkpoint file of a tiny model: the bytes every generated run gets a copy of."""
    import torch

    from tui_trainer.training import checkpoints

    cfg = Config()
    cfg.set("model.name", "seed_cnn")
    cfg.set("model.widths", [4, 4, 4])
    head = checkpoints.header(cfg, [str(i) for i in range(10)], "fp32")
    payload = checkpoints.weights_payload(head, {"w": torch.zeros(64, 64)}, EPOCHS, {"test_acc": 0.8})
    path = folder / "proto.pt"
    checkpoints.save(path, payload)
    return path.read_bytes()


def make_runs(root: Path, n: int) -> None:
    rng = random.Random(0)
    ckpt = small_checkpoint(root.parent)
    presets = ["cpu-quick", "fast", "seed-notebook", "bag-of-tricks"]
    for i in range(n):
        preset = presets[i % len(presets)]
        cfg = Config(description=f"generated run {i}")
        cfg.set("optimizer.lr", rng.choice([0.1, 0.2, 0.4, 0.75, 1.0]))
        cfg.set("optimizer.weight_decay", rng.choice([5e-4, 1e-3, 2e-3]))
        cfg.set("model.widths", rng.choice([[32, 64, 64], [48, 96, 96], [64, 128, 128]]))
        cfg.set("run.epochs", EPOCHS)
        acc = 0.5 + 0.4 * rng.random()
        write_run_folder(root, f"2026{1 + i // 300:02d}{1 + (i // 10) % 28:02d}-{i // 60 % 24:02d}{i % 60:02d}00-{preset}",
                         cfg, [acc * e / EPOCHS for e in range(1, EPOCHS + 1)], preset=preset,
                         notes=Notes(f"note {i}", ["baseline"]) if i % 7 == 0 else None, checkpoint=ckpt)


def make_groups(root: Path, groups: int, seeds: int) -> None:
    """`groups` settings (an LR each) of `seeds` runs each, seeds 0, 1, ..., as `train --seeds` leaves them."""
    rng = random.Random(0)
    ckpt = small_checkpoint(root.parent)
    for g in range(groups):
        cfg = Config(description=f"generated group {g}")
        cfg.set("optimizer.lr", round(0.05 + 0.001 * g, 4))
        cfg.set("run.epochs", EPOCHS)
        base = 0.5 + 0.4 * rng.random()
        for seed in range(seeds):
            cfg.set("run.seed", seed)
            acc = base + rng.gauss(0, 0.003)
            i = g * seeds + seed
            write_run_folder(root, f"2026{1 + i // 3000:02d}{1 + (i // 100) % 28:02d}-{i // 60 % 24:02d}{i % 60:02d}"
                                   f"{i % 100:02d}-g{g}-s{seed}", cfg, [acc * e / EPOCHS for e in range(1, EPOCHS + 1)],
                             preset="cpu-quick", checkpoint=ckpt)


async def measure_grouped(root: Path, rounds: int, groups: int) -> dict[str, list[float]]:
    """The Runs screen on the seed groups: `g` (grouped by settings, intervals computed, table
    redrawn) after a warm listing, then sort and filter of the grouped view."""
    from tui_trainer.app.app import TrainerApp
    from tui_trainer.app.widgets.virtual_table import VirtualTable

    out: dict[str, list[float]] = {"group": [], "sort": [], "filter": []}
    runs = len(list(root.iterdir()))
    for _ in range(rounds):
        app = TrainerApp("synthetic", root, "cpu")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await idle(pilot)
            await pilot.press("f3")
            while app.screen.query_one("#runs", VirtualTable).row_count < runs:
                await asyncio.sleep(0.01)
            await idle(pilot)
            table = app.screen.table
            t0 = time.perf_counter()
            table.group_by = "settings"
            table.redraw()
            out["group"].append(time.perf_counter() - t0)
            assert len({id(g) for g in table.group_of.values()}) == groups, "one group a setting"
            for key in ("best_acc", "optimizer.lr", "name"):
                t0 = time.perf_counter()
                table.sort_by(key)
                out["sort"].append(time.perf_counter() - t0)
            for text in ("best_acc>0.8", "optimizer.lr<0.5", "g1", ""):
                t0 = time.perf_counter()
                assert table.set_filter(text) is None
                out["filter"].append(time.perf_counter() - t0)
    return out


def measure_group_json(root: Path, rounds: int, groups: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tui_trainer", "runs", "--runs", str(root), "--group", "settings",
                               "--json"], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        import json
        assert len(json.loads(proc.stdout)) == groups, "one object per group"
    return times


def table(rows: list[tuple[str, list[float], float]]) -> None:
    print(f"\n{'what':<44} {'median s':>9} {'worst s':>9} {'target s':>9} {'worst/target':>13}")
    for what, times, target in rows:
        worst = max(times)
        print(f"{what:<44} {statistics.median(times):>9.3f} {worst:>9.3f} {target:>9.2f} {worst / target:>12.2f}x")


async def idle(pilot) -> None:
    """Until no worker of the app runs (exclusive workers replaced by newer ones count as done)."""
    while not all(w.is_finished for w in pilot.app.workers):
        await pilot.pause(0.05)


async def measure_screen(root: Path, rounds: int, prepared: bool) -> dict[str, list[float]]:
    """F3 as a user meets it (`prepared`: the app composed the Runs screen in its first idle
    second) or cold (pressed before that, or with the preparation off): from the key event to the
    first frame that draws the table's rows, and to the app idle again (the re-listing done)."""
    from textual import events

    from tui_trainer.app.app import TrainerApp
    from tui_trainer.app.widgets.virtual_table import VirtualTable

    drawn: list[float] = []
    render_line = VirtualTable.render_line

    def timed_render_line(table: VirtualTable, y: int):  # noqa: ANN202
        if y > 0 and table.rows and not drawn:
            drawn.append(time.perf_counter())
        return render_line(table, y)

    VirtualTable.render_line = timed_render_line
    out: dict[str, list[float]] = {"screen": [], "idle": [], "sort": [], "filter": []}
    for _ in range(rounds):
        app = TrainerApp("synthetic", root, "cpu")
        if not prepared:
            app.PREPARE_RUNS_AFTER_S = None
        async with app.run_test(size=(120, 40)) as pilot:
            # Setup's workers (parameter count, augmentation preview) import torch at start-up;
            # measured from when they are done, the figure is the Runs screen's own.
            await pilot.pause()
            await idle(pilot)
            await pilot.pause(0.5)
            if prepared:
                await pilot.pause(TrainerApp.PREPARE_RUNS_AFTER_S)
                await idle(pilot)
            drawn.clear()
            start = time.perf_counter()
            app.post_message(events.Key("f3", None))  # as a terminal's key; pilot.press also waits for idle
            runs = len(list(root.iterdir()))
            while not drawn or app.current_mode != "runs" or not app.screen.query("#runs") \
                    or app.screen.query_one("#runs", VirtualTable).row_count < runs:
                await asyncio.sleep(0.002)
            out["screen"].append(drawn[0] - start)
            await pilot.pause()
            await idle(pilot)
            out["idle"].append(time.perf_counter() - start)
            screen = app.screen
            for key in ("best_acc", "optimizer.lr", "name"):
                t0 = time.perf_counter()
                screen.table.sort_by(key)
                out["sort"].append(time.perf_counter() - t0)
            for text in ("best_acc>0.8", "tag:baseline optimizer.lr<0.5", "cpu-quick", ""):
                t0 = time.perf_counter()
                assert screen.table.set_filter(text) is None
                out["filter"].append(time.perf_counter() - t0)
    VirtualTable.render_line = render_line
    return out


def measure_csv(root: Path, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tui_trainer", "runs", "--runs", str(root), "--csv"],
                              capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        assert proc.stdout.count("\n") == len(list(root.iterdir())) + 1, "one CSV line per run and a header"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="run folders to generate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate here and keep the folders")
    parser.add_argument("--groups", type=int, default=0, help="seed groups to generate instead of runs")
    parser.add_argument("--seeds", type=int, default=5, help="with --groups: runs a group")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="runs-scale-"))
    root = base / "runs"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    if args.groups:
        make_groups(root, args.groups, args.seeds)
        print(f"generated {args.groups} groups of {args.seeds} seeds in {root} ({time.perf_counter() - t0:.1f} s)")
        grouped = asyncio.run(measure_grouped(root, args.rounds, args.groups))
        table([("g: grouped by settings, intervals, redrawn", grouped["group"], 1.0),
               ("sort the grouped view (3 columns)", grouped["sort"], 0.1),
               ("filter the grouped view (4 expressions)", grouped["filter"], 0.1),
               ("tui-trainer runs --group settings --json", measure_group_json(root, args.rounds, args.groups), 3.0)])
        if not args.keep:
            shutil.rmtree(base)
        return
    make_runs(root, args.runs)
    print(f"generated {args.runs} run folders in {root} ({time.perf_counter() - t0:.1f} s)")
    screen = asyncio.run(measure_screen(root, args.rounds, prepared=True))
    cold = asyncio.run(measure_screen(root, args.rounds, prepared=False))
    csv_times = measure_csv(root, args.rounds)
    rows = [("F3: the table's first frame", screen["screen"], 1.0),
            ("F3: the app idle again", screen["idle"], 1.0),
            ("F3 before the app prepared it: first frame", cold["screen"], 1.0),
            ("F3 before the app prepared it: idle again", cold["idle"], 1.0),
            ("sort (3 columns, table redrawn)", screen["sort"], 0.1),
            ("filter (4 expressions, table redrawn)", screen["filter"], 0.1),
            ("tui-trainer runs --csv (process)", csv_times, 2.0)]
    table(rows)
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
