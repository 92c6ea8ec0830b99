"""Time to test-accuracy thresholds with a preset, against airbench's A100 figures.

    python benchmarks/time_to_accuracy.py --data DIR --preset fast [--preset gpu-96] [--epochs N]

Each preset runs through the engine (as `tui-trainer train` does) with a test evaluation every
epoch, after an untimed one-epoch warm-up of the same preset in the same process (on a GPU: the
CUDA context, cuDNN's algorithm search and the allocator's pool; airbench warms up the same
way). The table gives the first epoch at or above each threshold and the training seconds to it
(airbench's notion: evaluations are not counted), the run's training seconds beside its wall time
(which counts the data upload, every evaluation and the checkpoint writes), and the final
accuracy with the preset's TTA setting.
"""
from __future__ import annotations

import argparse
import time
from datetime import date

import torch

from tui_trainer import presets
from tui_trainer.data import load_dataset
from tui_trainer.events import EpochEnded, RunFailed, RunFinished
from tui_trainer.training.speed_cache import cpu_label
from tui_trainer.training.trainer import Trainer

THRESHOLDS = (0.90, 0.94, 0.96)
AIRBENCH_A100 = {0.94: "3.83 s (airbench94), 2.59 s (with Muon)", 0.96: "27.3 s (airbench96)"}


def run(preset: str, data, runs: str, device: str, epochs: int | None, sink=None) -> tuple[RunFinished, object]:
    cfg = presets.find(preset).load()
    if epochs:
        cfg.set("run.epochs", epochs)
    cfg.set("run.eval_every", 1)
    result = Trainer(cfg, data=data.source, runs_dir=runs, preset=f"bench-{preset}", device_name=device,
                     dataset=data, sink=sink).run()
    if isinstance(result, RunFailed):
        raise SystemExit(f"{preset}: {result.message}")
    assert isinstance(result, RunFinished)
    return result, cfg


def measure(preset: str, data, runs: str, device: str, epochs: int | None) -> dict:
    run(preset, data, runs, device, 1)  # the warm-up, untimed
    reached: dict[float, tuple[int, float]] = {}
    trained = [0.0]

    def sink(event) -> None:
        if isinstance(event, EpochEnded):
            trained[0] += event.train_seconds or 0.0
            for t in THRESHOLDS:
                if event.test_acc is not None and event.test_acc >= t and t not in reached:
                    reached[t] = (event.epoch, trained[0])

    start = time.perf_counter()
    result, cfg = run(preset, data, runs, device, epochs, sink)
    return {"preset": preset, "epochs": cfg.run.epochs, "seconds": time.perf_counter() - start,
            "train_s": trained[0], "final": result.final_acc, "tta": cfg.run.tta, "reached": reached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", action="append", help="repeatable (default: fast)")
    parser.add_argument("--epochs", type=int, help="override every preset's epochs (a quick check)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default="/tmp/tui-trainer-bench-runs")
    args = parser.parse_args()
    data = load_dataset(args.data)
    rows = [measure(p, data, args.runs, args.device, args.epochs) for p in args.preset or ["fast"]]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"time to accuracy — {date.today()}, {cpu_label()}, {device}, torch {torch.__version__}, "
          f"{len(data.train_x)} train / {len(data.test_x)} test images")
    print("| preset | epochs | training s | wall s | final acc | " + " | ".join(f"to {t:.0%}" for t in THRESHOLDS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(THRESHOLDS))
    for r in rows:
        cells = [f"{r['reached'][t][1]:.1f} s (epoch {r['reached'][t][0]})" if t in r["reached"] else "-"
                 for t in THRESHOLDS]
        final = f"{r['final']:.2%}{' TTA' if r['tta'] else ''}" if r["final"] is not None else "-"
        print(f"| {r['preset']} | {r['epochs']} | {r['train_s']:.1f} | {r['seconds']:.1f} | {final} | "
              + " | ".join(cells) + " |")
    print("reference, airbench on an A100: " + "; ".join(f"{t:.0%} in {v}" for t, v in AIRBENCH_A100.items()))


if __name__ == "__main__":
    main()
