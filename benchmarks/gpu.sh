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
