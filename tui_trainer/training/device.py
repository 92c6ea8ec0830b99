"""Where a run computes and in what precision."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    bf16: bool  # bf16 autocast with channels_last

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.bf16 else torch.contiguous_format

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return f"{name} ({self.precision}{' + channels_last' if self.bf16 else ''})"


def cpu_has_fast_bf16() -> bool:
    # Without AVX-512 bf16 or AMX, bf16 autocast on a CPU is emulated and slower than fp32.
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve(device: str = "auto", precision: str = "auto", index: int | None = None) -> Placement:
    """Pick the device and precision; raises ValueError with a user-facing message. `index`: which
    GPU, for one process of several on a machine."""
    if device not in DEVICES:
        raise ValueError(f"--device {device!r} is invalid: expected one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps: Apple's MPS backend is not available here (use --device cpu or auto)")
    dev = torch.device(device) if index is None or device != "cuda" else torch.device(device, index)
    if precision == "auto":
        fast = {"cuda": gpu_has_fast_bf16(dev), "cpu": cpu_has_fast_bf16(), "mps": False}[dev.type]
        place = Placement(dev, fast)
    else:
        place = Placement(dev, precision == "bf16")
    tune_gpu(place)
    return place


def gpu_has_fast_bf16(dev: torch.device) -> bool:
    # torch.cuda.is_bf16_supported() also says yes where bf16 is emulated (before Ampere), which
    # trains slower than fp32: only a GPU with bf16 tensor cores gets it.
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False) \
        and torch.cuda.get_device_capability(dev) >= (8, 0)


def tune_gpu(place: Placement) -> None:
    """On CUDA: cuDNN picks the fastest convolution algorithm for the run's fixed shapes (every
    batch but an epoch's last has one shape), and an fp32 run's matmuls and convolutions use TF32
    tensor cores (10-bit mantissa products, fp32 sums; PyTorch's recommended setting for training).
    Process-wide settings, taken by the process that trains on the GPU; a CPU changes nothing."""
    if place.device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    if not place.bf16:
        # cuDNN's convolutions take TF32 by default already; matmuls (the linear layers) do not.
        # The long-standing API: mixing the old allow_tf32 flags with the new fp32_precision
        # ones makes torch refuse to read either.
        torch.set_float32_matmul_precision("high")


def gpu_count(device_name: str) -> int:
    """CUDA GPUs that processes started side by side share out (0 on a CPU or with --device cpu)."""
    return torch.cuda.device_count() if device_name in ("auto", "cuda") and torch.cuda.is_available() else 0


def gpu_slot_env(device_name: str, slot: int) -> dict[str, str]:
    """The environment for process number `slot` of several started side by side (seed-group
    members, search workers): one GPU of this machine's each, in turn, rather than all on GPU 0.
    Nothing on a CPU, with --device cpu, or with one GPU. A CUDA_VISIBLE_DEVICES already set
    names the GPUs to share."""
    gpus = gpu_count(device_name)
    if gpus < 2:
        return {}
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()] or \
        [str(i) for i in range(gpus)]
    return {"CUDA_VISIBLE_DEVICES": visible[slot % len(visible)]}


def rng_state(dev: torch.device) -> dict[str, torch.Tensor]:
    """This process's random state for last.pt: the CPU's generator (augmentation draws, and
    dropout on a CPU), and the GPU's where the run computes on one (dropout draws there)."""
    state = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(dev)
    elif dev.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor] | torch.Tensor, dev: torch.device) -> None:
    """Restore what rng_state saved; a last.pt from before GPUs holds the CPU's state alone (a
    tensor), and a GPU's state is restored only onto the same kind of device."""
    if isinstance(state, torch.Tensor):
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], dev)
    elif dev.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])
