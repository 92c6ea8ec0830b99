"""Wall time of the LR finder on a preset, as the CLI and the Setup screen run it: loading the data,
building the model (airbench's whitening included) and the sweep, against a target.

    python benchmarks/lr_find.py [DATA_DIR] [--preset cpu-quick] [--steps 100] [--device auto]

DATA_DIR defaults to $TUI_TRAINER_DATA. On a shared 2-core machine another process's load shows
up directly in the figure.
"""
from __future__ import annotations

import argparse
import os

from tui_trainer import presets
from tui_trainer.training.lr_find import find_lr

TARGET_S = 40.0  # the sweep should cost well under an epoch of the preset it tunes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("TUI_TRAINER_DATA"), metavar="DATA_DIR")
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not args.data:
        parser.error("give DATA_DIR or set TUI_TRAINER_DATA")
    r = find_lr(presets.find(args.preset).load(), data=args.data, device_name=args.device, steps=args.steps)
    steps = f"{r.steps_done}/{args.steps}" + (" (diverged)" if r.diverged else "")
    if r.suggested_lr is None:
        suggested = "none"
    else:
        suggested = f"{r.suggested_lr:.3g}" + (f" (muon_lr {r.suggested_muon_lr:.3g})" if r.suggested_muon_lr is not None else "")
    print("| preset | steps | seconds | target | ratio | suggested lr |\n|---|---:|---:|---:|---:|---|")
    print(f"| {args.preset} | {steps} | {r.seconds:.1f} | {TARGET_S:.0f} s | {r.seconds / TARGET_S:.2f} | {suggested} |")


if __name__ == "__main__":
    main()
