"""Training throughput of the seed-notebook-cyclic recipe: this engine against the notebook's own loop.

Both train seed_cnn with Adam, CyclicLR triangular2, random crop + flip and MixUp 0.4 at batch 32
on the same images, in the same process, one after the other. The notebook's loop is rebuilt as it
was: torchvision transforms on PIL images, a DataLoader with 2 workers, fp32.

    python benchmarks/throughput.py --data DIR [--images 45000] [--rounds R] [--sprint]

Prints a table: img/s of each and the ratio (target: engine >= 3x notebook). With --sprint, then
the notebook's result in 1/400 of its loop's time (issue 23): the time the notebook's loop needs
for its 200 epochs of 50,000 images at the speed just measured, divided by 400, given to
`tui-trainer train --preset fast --budget` on the same data, as a process timed from start to
exit; the target is the notebook's 78.58% on the held-out images. With --breakdown R, what the
engine adds per step: R rounds, interleaved (this VM's speed drifts by tens of percent within a
minute), of the engine's epoch, the same batches through `train_step` alone, and `train_step` on
one batch over and over (no augmentation, no mixing); medians of img/s.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from datetime import date

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

from tui_trainer import presets
from tui_trainer.data import Dataset, load_dataset
from tui_trainer.events import EpochEnded
from tui_trainer.models import build_model
from tui_trainer.models.elu import ELU
from tui_trainer.training import device
from tui_trainer.training.build import build_training, train_step
from tui_trainer.training.speed_cache import cpu_label
from tui_trainer.training.trainer import Trainer


class NotebookCIFAR(torch.utils.data.Dataset):
    """What torchvision's CIFAR10 hands the notebook: a PIL image per index, transformed."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def notebook_model(num_classes: int) -> torch.nn.Module:
    """seed_cnn with torch's own nn.ELU, as the notebook wrote it (the engine's ELU is faster)."""
    model = build_model("seed_cnn", num_classes)
    for seq in (model.features, model.classifier):
        for i, layer in enumerate(seq):
            if isinstance(layer, ELU):
                seq[i] = torch.nn.ELU()
    return model


def notebook_epoch(data: Dataset, images: int, cfg) -> float:
    """The notebook's training loop for `images` images; returns img/s."""
    mean, std = cfg.data.mean, cfg.data.std
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(mean, std)])
    hwc = data.train_x[:images].permute(0, 2, 3, 1).numpy()
    loader = DataLoader(NotebookCIFAR(hwc, data.train_y[:images].numpy(), transform), batch_size=32,
                        shuffle=True, num_workers=2, drop_last=True,
                        multiprocessing_context="spawn", persistent_workers=False)
    torch.manual_seed(42)
    model = notebook_model(data.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optimizer.lr, weight_decay=cfg.optimizer.weight_decay)
    steps = len(loader)
    scheduler = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=cfg.optimizer.lr / 2, max_lr=cfg.optimizer.lr * 2,
                                                  step_size_up=int(cfg.schedule.cycle_epochs * steps),
                                                  mode="triangular2", cycle_momentum=False)
    model.train()
    iterator = iter(loader)
    first = next(iterator)  # worker start-up is not training: time from the first batch on
    start, seen = time.perf_counter(), 0
    for x, y in itertools.chain([first], iterator):
        lam = float(np.random.beta(cfg.augment.mixup_alpha, cfg.augment.mixup_alpha))
        perm = torch.randperm(x.size(0))
        mixed = lam * x + (1 - lam) * x[perm]
        out = model(mixed)
        loss = lam * F.cross_entropy(out, y) + (1 - lam) * F.cross_entropy(out, y[perm])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def engine_epoch(data: Dataset, images: int, cfg, runs_dir: str) -> float:
    subset = Dataset(data.train_x[:images], data.train_y[:images], data.test_x[:1000], data.test_y[:1000],
                     data.classes, data.source)
    cfg.set("run.epochs", 1)
    ended: list[EpochEnded] = []
    result = Trainer(cfg, data=data.source, runs_dir=runs_dir, preset="bench-seed-notebook", dataset=subset,
                     sink=lambda e: ended.append(e) if isinstance(e, EpochEnded) else None).run()
    if not ended:
        sys.exit(f"engine run failed: {result}")
    return ended[0].images_per_s


def bare_epoch(data: Dataset, images: int, cfg, one_batch: bool) -> float:
    """The engine's model, optimizer and batches with nothing around `train_step`; returns img/s."""
    subset = Dataset(data.train_x[:images], data.train_y[:images], data.test_x[:1], data.test_y[:1],
                     data.classes, data.source)
    place = device.resolve("auto", cfg.run.precision)
    model, optimizer, batches = build_training(cfg, subset, place)
    model.train()
    stream = batches.epoch(0)
    if one_batch:
        first = next(stream)
        stream = (first for _ in range(batches.steps_per_epoch))
    start = time.perf_counter()
    for batch in stream:
        loss, _ = train_step(model, optimizer, batch, place, cfg.augment.label_smoothing)
    loss.item()  # waits for the device's last step
    return batches.steps_per_epoch * cfg.data.batch_size / (time.perf_counter() - start)


def breakdown(data: Dataset, images: int, cfg, runs: str, rounds: int) -> None:
    kinds = {"engine epoch (Trainer: tally, LR per step, progress, stop checks)":
             lambda: engine_epoch(data, images, cfg.copy(), runs),
             "the same batches through train_step alone": lambda: bare_epoch(data, images, cfg, False),
             "train_step on one batch over and over": lambda: bare_epoch(data, images, cfg, True)}
    bare_epoch(data, min(images, 2000), cfg, True)  # warm-up: oneDNN's first primitives
    seen: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for name, measure in kinds.items():
            seen[name].append(measure())
    ref = statistics.median(seen[next(iter(kinds))])
    print(f"\nwhat the engine adds per step, {images} images, batch {cfg.data.batch_size}, {rounds} rounds interleaved")
    print("| loop | img/s (each round) | median | vs engine |\n|---|---|---:|---:|")
    for name, values in seen.items():
        med = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:,.0f}' for v in values)} | {med:,.0f} | {med / ref:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with cifar-10-batches-py, or 'synthetic'")
    parser.add_argument("--images", type=int, default=45000, help="training images per measured epoch")
    parser.add_argument("--runs", default="/tmp/tui-trainer-bench-runs")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of the engine and the notebook loop")
    parser.add_argument("--sprint", action="store_true", help="then the notebook's result in 1/400 of its time")
    parser.add_argument("--breakdown", type=int, default=0, metavar="R",
                        help="then R interleaved rounds of the engine against bare train_step loops")
    args = parser.parse_args()
    data = load_dataset(args.data)
    images = min(args.images, len(data.train_x))
    cfg = presets.find("seed-notebook-cyclic").load()
    # Rounds alternate (engine, notebook, engine, ...) so this VM's drift hits both alike; the ratio
    # is the median of each round's own ratio.
    engines, notebooks = [], []
    for _ in range(args.rounds):
        engines.append(engine_epoch(data, images, cfg.copy(), args.runs))
        notebooks.append(notebook_epoch(data, images, cfg))
    engine, notebook = statistics.median(engines), statistics.median(notebooks)
    ratios = [e / n for e, n in zip(engines, notebooks)]
    print(f"seed-notebook throughput, {images} images, batch 32, {args.rounds} round(s) — {date.today()}, "
          f"{cpu_label()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| pipeline | img/s (each round) | median | ratio |\n|---|---|---:|---:|")
    print(f"| notebook loop (torchvision transforms, DataLoader 2 workers, fp32) | "
          f"{', '.join(f'{v:,.0f}' for v in notebooks)} | {notebook:,.0f} | 1.00x |")
    print(f"| tui-trainer engine (seed-notebook preset) | {', '.join(f'{v:,.0f}' for v in engines)} | {engine:,.0f} | "
          f"{statistics.median(ratios):.2f}x (each round {', '.join(f'{r:.2f}x' for r in ratios)}) |")
    if args.breakdown:
        breakdown(data, images, cfg, args.runs, args.breakdown)
    if args.sprint:
        sprint(args.data, notebook, args.runs)


NOTEBOOK_ACC = 0.7858  # the notebook's test accuracy after its 200 epochs


def sprint(data: str, notebook_ips: float, runs: str) -> None:
    loop_s = 200 * 50_000 / notebook_ips
    budget_s = loop_s / 400
    cmd = [sys.executable, "-m", "tui_trainer", "train", "--preset", "fast", "--budget", f"{budget_s:.1f}s",
           "--data", data, "--runs", runs, "--json"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    finished = [e for e in events if e.get("event") == "finished"]
    if out.returncode or not finished:
        sys.exit(f"sprint: exit {out.returncode}: {(out.stderr or out.stdout).strip()[-500:]}")
    plan = next((e for e in events if e.get("event") == "plan"), {})
    acc = finished[-1]["final_acc"]
    print(f"\nthe notebook's loop: 200 epochs of 50,000 images at {notebook_ips:,.0f} img/s = {loop_s / 3600:.2f} h; "
          f"1/400 of it = {budget_s:.1f} s")
    print("| run | budget s | wall s | net, batch, epochs planned | final (TTA) | notebook | met |\n|---|---:|---:|---|---:|---:|---|")
    net = ("-".join(map(str, plan.get("widths") or [])) or plan.get("model", "?")) + f" b{plan.get('batch_size')}"
    print(f"| `train --preset fast --budget {budget_s:.1f}s` | {budget_s:.1f} | {wall:.1f} | "
          f"{net}, {plan.get('epochs', 0):.2f} | {acc:.2%} | {NOTEBOOK_ACC:.2%} | {'yes' if acc >= NOTEBOOK_ACC else 'no'} |")


if __name__ == "__main__":
    main()
