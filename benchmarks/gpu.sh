#!/usr/bin/env bash
# One call on a GPU machine: time to 94% (fast) and 96% (gpu-96) against airbench's A100 figures.
# Installs nothing. The data must already be inside the repository, in the ignored folder .data/
# (a GPU machine sees only the repository):
#     python ../shared/data/make_cifar10.py .data
# On a machine without a GPU it runs the same presets for EPOCHS (default 1) epochs, on .data/
# if present, else on synthetic data, to show that the script works.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DATA=.data
[ -d "$DATA/cifar-10-batches-py" ] || DATA=synthetic
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    "$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name())'
    "$PY" benchmarks/time_to_accuracy.py --data "$DATA" --device cuda --preset fast --preset gpu-96
else
    echo "no GPU here: a ${EPOCHS:-1}-epoch check of the same script on the CPU, data: $DATA"
    "$PY" benchmarks/time_to_accuracy.py --data "$DATA" --device cpu --preset fast --preset gpu-96 --epochs "${EPOCHS:-1}"
fi
# One rank through torchrun (NCCL on the GPU, gloo on a CPU): the engine's distributed path on this
# device; a 1-GPU machine cannot show multi-GPU scaling.
RUNS=$(mktemp -d)
TORCHRUN=("$PY" -m torch.distributed.run --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:0)
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    "${TORCHRUN[@]}" -m tui_trainer train --preset fast --data "$DATA" --device cuda --runs "$RUNS" --json | tail -1
else
    "${TORCHRUN[@]}" -m tui_trainer train --preset cpu-quick --epochs 1 --data "$DATA" --device cpu --runs "$RUNS" --json | tail -1
fi
rm -rf "$RUNS"
