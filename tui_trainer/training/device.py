"""Where a run computes and in what precision."""
from __future__ import annotations

import contextlib
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
        fast = {"cuda": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
                "cpu": cpu_has_fast_bf16(), "mps": False}[dev.type]
        return Placement(dev, fast)
    return Placement(dev, precision == "bf16")
