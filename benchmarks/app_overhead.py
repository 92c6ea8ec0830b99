"""What the app costs a run: img/s of the same run headless and with the app open, side by side.

The app side runs the real TrainerApp (all screens, plots redrawn at every epoch, progress
coalesced) under Textual's headless driver at 120x40; the headless side is the bare engine, as
`tui-trainer train` runs it. Runs alternate (headless, app, headless, app) so drift in the
machine's speed hits both alike.

    python benchmarks/app_overhead.py --data DIR [--preset cpu-quick] [--images 15000] [--rounds 2] [--system-pane]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import date

import torch

from tui_trainer import presets
from tui_trainer.app.app import TrainerApp
from tui_trainer.app.widgets.system_pane import SystemPane
from tui_trainer.data import Dataset, load_dataset
from tui_trainer.events import EpochEnded
from tui_trainer.training.speed_cache import cpu_label
from tui_trainer.training.trainer import Trainer


def headless(cfg, data: Dataset, runs: str) -> float:
    ended: list[EpochEnded] = []
    Trainer(cfg.copy(), data=data.source, runs_dir=runs, preset="bench-headless", dataset=data,
            sink=lambda e: ended.append(e) if isinstance(e, EpochEnded) else None).run()
    return statistics.fmean(e.images_per_s for e in ended)


def in_app(cfg, data: Dataset, runs: str, pane: bool) -> tuple[float, float]:
    """img/s, and the share of one core the UI thread used while the run trained: unlike img/s,
    a CPU time is barely moved by this VM's drift, so it says what the app takes from training."""
    async def scenario() -> tuple[float, float]:
        app = TrainerApp(data.source, runs, "auto")
        app.dataset = data
        async with app.run_test(size=(120, 40)) as pilot:
            # A user presses F5 on an app that has started: its own start-up (screens, the runs
            # listing, the Runs screen it prepares a second in) is not the run's cost.
            await pilot.pause((app.PREPARE_RUNS_AFTER_S or 0) + 0.5)
            await app.workers.wait_for_complete()
            session = app.start_run(cfg.copy(), "bench-app")
            if pane:  # the system pane's sampler and sparklines, open the whole run
                await pilot.pause(0.5)
                await pilot.press("s")
                await pilot.pause(0.5)
                assert app.screen.query_one(SystemPane).display, "the system pane did not open"
            # The UI thread's CPU from the first step's progress to the first epoch's end: what the
            # screen costs while the run trains (its first drawing comes before the first step).
            marks = []
            while session.live and len(marks) < 2:
                if len(marks) == 0 and session.progress is not None or len(marks) == 1 and session.epochs:
                    marks.append((time.thread_time(), time.perf_counter()))
                await asyncio.sleep(0.1)  # not pilot.pause: its wait for the screen is UI work of its own
            if len(marks) == 1:  # the run ended between two looks: its end is the epoch's, within 0.1 s
                marks.append((time.thread_time(), time.perf_counter()))
            while session.live:
                await pilot.pause(0.1)
            (cpu0, wall0), (cpu1, wall1) = marks
            ui_share = (cpu1 - cpu0) / (wall1 - wall0)
            return statistics.fmean(e.images_per_s for e in session.epochs), ui_share
    return asyncio.run(scenario())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--images", type=int, default=15000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", default="/tmp/tui-trainer-bench-runs")
    parser.add_argument("--system-pane", action="store_true", help="with the Training screen's system pane open")
    args = parser.parse_args()
    full = load_dataset(args.data)
    data = Dataset(full.train_x[:args.images], full.train_y[:args.images], full.test_x, full.test_y,
                   full.classes, full.source)
    cfg = presets.find(args.preset).load()
    cfg.set("run.epochs", args.epochs)
    cfg.set("run.eval_every", args.epochs)
    cfg.set("run.tta", False)
    results = {"headless": [], "app": []}
    ui_shares = []
    for _ in range(args.rounds):
        results["headless"].append(headless(cfg, data, args.runs))
        speed, ui_share = in_app(cfg, data, args.runs, args.system_pane)
        results["app"].append(speed)
        ui_shares.append(ui_share)
    h, a = (statistics.fmean(results[k]) for k in ("headless", "app"))
    print(f"app overhead{' with the system pane open' if args.system_pane else ''}, preset {args.preset}, "
          f"{args.images} images x {args.epochs} epoch(s), "
          f"{args.rounds} rounds — {date.today()}, {cpu_label()}, torch {torch.__version__}")
    print("| mode | img/s (each round) | mean | vs headless |\n|---|---|---:|---:|")
    for name, mean in (("headless engine", h), ("app open (120x40)", a)):
        rounds = ", ".join(f"{v:,.0f}" for v in results["headless" if mean is h else "app"])
        print(f"| {name} | {rounds} | {mean:,.0f} | {mean / h - 1:+.1%} |")
    print(f"The app's UI thread while the first epoch trains: {statistics.median(ui_shares):.1%} of one core "
          f"(median; each round {', '.join(f'{v:.1%}' for v in ui_shares)}), of the "
          f"{torch.get_num_threads()} cores training uses.")


if __name__ == "__main__":
    main()
