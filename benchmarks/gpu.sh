#!/usr/bin/env bash
# One call on a GPU machine: airbench94 (Keller Jordan's upstream file, unchanged) and tui-trainer
# on the same GPU and the same data: time to accuracy of the fast and gpu-96 presets, and
# `--budget` runs given airbench94's own time; then the GPU tests and one torchrun rank.
#
# A GPU machine sees only the repository (64 MiB at most), not ../shared. Before the call, here:
#     bash benchmarks/gpu.sh --pack
# copies the 46 MB CIFAR-10 pack, make_cifar10.py and airbench94.py into .gpu-carry/ (ignored by
# git); name `.gpu-carry` in the device call's carry. On the GPU this script builds .data/ from the
# pack (40,000 train / 10,000 held out, as the frontier benchmark) and the cifar10/{train,test}.pt
# files airbench94.py would otherwise download. With a GPU and no data it stops with exit 1: a
# benchmark on synthetic images would mean nothing.
# On a machine without a GPU it runs the same presets for EPOCHS (default 1) epochs, on .data/ if
# present, else on synthetic data, to show that the script works.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry
if [ "${1:-}" = "--pack" ]; then
    mkdir -p "$CARRY"
    cp ../shared/data/cifar10-train-jpeg.npz ../shared/data/make_cifar10.py \
       ../shared/bench/airbench94.py ../shared/bench/LICENSE-airbench "$CARRY"/
    du -sh "$CARRY"
    exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
GPU=0
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' && GPU=1

if [ ! -d .data/cifar-10-batches-py ] && [ -f "$CARRY/cifar10-train-jpeg.npz" ]; then
    echo "building .data/ from $CARRY's pack"
    "$PY" "$CARRY/make_cifar10.py" .data --holdout 10000
fi
DATA=.data
if [ ! -d "$DATA/cifar-10-batches-py" ]; then
    if [ "$GPU" = 1 ]; then
        echo "gpu.sh: a GPU is here but no CIFAR-10: run 'bash benchmarks/gpu.sh --pack' first and carry .gpu-carry" >&2
        exit 1
    fi
    DATA=synthetic
fi

if [ "$GPU" = 1 ]; then
    "$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(), "torch", torch.__version__)'
    # airbench94's own run, on the same images: its loader reads cifar10/{train,test}.pt (uint8 NHWC,
    # labels, classes) under its working directory.
    "$PY" - "$DATA" "$CARRY/cifar10" <<'EOF'
import sys
from pathlib import Path

import torch

from tui_trainer.data import load_dataset

data, out = load_dataset(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
    torch.save({"images": x.permute(0, 2, 3, 1).contiguous(), "labels": y, "classes": list(data.classes)},
               out / f"{name}.pt")
print(f"airbench data: {len(data.train_x)} train / {len(data.test_x)} test images")
EOF
    (cd "$CARRY" && "$PY" airbench94.py) | tee /tmp/airbench94.log | tail -4
    AIRBENCH_S=$("$PY" - /tmp/airbench94.log <<'EOF'
import re, sys
# Its table's last column of each run's final row is the run's total time in seconds.
times = [float(m.group(1)) for m in re.finditer(r"\|\s*eval\s*\|.*?\|\s*([0-9.]+)\s*\|\s*$", open(sys.argv[1]).read(), re.M)]
print(f"{sorted(times)[len(times) // 2]:.2f}" if times else "")
EOF
)
    echo "airbench94 median time: ${AIRBENCH_S:-?} s"
    "$PY" benchmarks/time_to_accuracy.py --data "$DATA" --device cuda --preset fast --preset gpu-96
    if [ -n "$AIRBENCH_S" ]; then
        for seed in 0 1; do  # airbench94's time as the budget: the issue's target
            "$PY" -m tui_trainer train --preset fast --budget "${AIRBENCH_S}s" --seed "$seed" --data "$DATA" \
                --device cuda --runs /tmp/gpu-budget-runs --json | tail -1
        done
    fi
    TUI_TRAINER_TEST_GPU=1 "$PY" -m pytest -q tests/test_gpu_path.py
else
    echo "no GPU here: a ${EPOCHS:-1}-epoch check of the same script on the CPU, data: $DATA"
    "$PY" benchmarks/time_to_accuracy.py --data "$DATA" --device cpu --preset fast --preset gpu-96 --epochs "${EPOCHS:-1}"
fi
# One rank through torchrun (NCCL on the GPU, gloo on a CPU): the engine's distributed path on this
# device; a 1-GPU machine cannot show multi-GPU scaling.
RUNS=$(mktemp -d)
TORCHRUN=("$PY" -m torch.distributed.run --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:0)
if [ "$GPU" = 1 ]; then
    "${TORCHRUN[@]}" -m tui_trainer train --preset fast --data "$DATA" --device cuda --runs "$RUNS" --json | tail -1
else
    "${TORCHRUN[@]}" -m tui_trainer train --preset cpu-quick --epochs 1 --data "$DATA" --device cpu --runs "$RUNS" --json | tail -1
fi
rm -rf "$RUNS"
