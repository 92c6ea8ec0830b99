"""Targets 2 and 3: wall time and accuracy of the CPU presets, run as a user runs them, beside
airbench94's own recipe on the same machine.

Each row is one `tui-trainer train --preset ... --json` process, timed from start to exit
(loading the data, training, the final evaluation with TTA). The reference rows are airbench94:
its full 64-256-256 net and its hyperparameters, given to the same engine as --set overrides, cut
to fewer epochs as the issue's own reference was (its 9.9 epochs take about twenty minutes here).
Rows run one after another: two at once would halve both on a 2-core machine.

    python benchmarks/cpu_presets.py --data DIR [--preset fast --preset cpu-quick] [--reference 5]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date

import torch

from tui_trainer.training.speed_cache import cpu_label

# airbench94 (Keller Jordan), translated to this engine's mean loss: its lr 11.5 per 1024 images
# and decay 0.0153 become lr 1.5 and L2 0.0153 / 11.5 = 0.00133 (as in the fast preset); batch 1024,
# warmup over 23% of its 9.9 epochs, label smoothing 0.2.
AIRBENCH94 = {
    "model.name": "airbench", "model.widths": "[64, 256, 256]", "data.batch_size": "1024",
    "optimizer.name": "sgd", "optimizer.lr": "1.5", "optimizer.momentum": "0.85",
    "optimizer.nesterov": "true", "optimizer.weight_decay": "0.00133", "optimizer.no_bias_decay": "false",
    "optimizer.bias_lr_scale": "64", "schedule.name": "linear", "schedule.warmup_epochs": "2.3",
    "schedule.final_lr_factor": "0.07", "augment.crop_padding": "2", "augment.pad_mode": "reflect",
    "augment.flip": "alternating", "augment.label_smoothing": "0.2", "run.tta": "true",
}
TARGETS = {"fast": (0.90, 270), "cpu-quick": (0.87, 140)}


def run(label: str, args: list[str], data: str, runs: str) -> dict:
    cmd = [sys.executable, "-m", "tui_trainer", "train", "--data", data, "--runs", runs, "--json", *args]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "finished"]
    if out.returncode or not finished:
        raise SystemExit(f"{label}: exit {out.returncode}: {(out.stderr or out.stdout).strip()[-500:]}")
    epochs = [e for e in events if e["event"] == "epoch"]
    acc = finished[-1]["final_acc"] if finished[-1]["final_acc"] is not None else finished[-1]["best_acc"]
    return {"label": label, "seconds": seconds, "acc": acc, "epochs": len(epochs),
            "img_s": sum(e["images_per_s"] for e in epochs) / len(epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", action="append", help="repeatable (default: fast, cpu-quick)")
    parser.add_argument("--reference", type=int, action="append",
                        help="airbench94's recipe for this many epochs; repeatable (default: none)")
    parser.add_argument("--runs", default="/tmp/tui-trainer-bench-runs")
    args = parser.parse_args()
    rows = [run(p, ["--preset", p], args.data, args.runs) for p in args.preset or list(TARGETS)]
    for epochs in args.reference or []:
        sets = [f"--set={k}={v}" for k, v in {**AIRBENCH94, "run.epochs": str(epochs),
                                               "run.eval_every": str(epochs)}.items()]
        rows.append(run(f"airbench94 recipe, {epochs} epochs", ["--preset", "fast", *sets], args.data, args.runs))
    print(f"CPU presets from the CLI — {date.today()}, {cpu_label()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| run | epochs | train img/s | wall s | final acc (TTA) | target |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        target = TARGETS.get(r["label"])
        verdict = "-"
        if target:
            met = r["acc"] >= target[0] and r["seconds"] <= target[1]
            verdict = f">= {target[0]:.0%} in <= {target[1]} s: {'met' if met else 'not met'}"
        print(f"| {r['label']} | {r['epochs']} | {r['img_s']:,.0f} | {r['seconds']:.1f} | {r['acc']:.2%} | {verdict} |")


if __name__ == "__main__":
    main()
