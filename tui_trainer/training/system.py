"""What the machine is doing: CPU, memory, the training process's RSS, and each GPU's
utilisation, memory and temperature (through nvidia-ml-py when it is installed; machines without
NVIDIA GPUs simply report none)."""
from __future__ import annotations

import os

import psutil

from ..events import SystemSample

_nvml = None  # the pynvml module once initialised; False when there is none to use


def _gpus() -> list[dict]:
    global _nvml
    if _nvml is None:
        try:
            import pynvml
            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:  # noqa: BLE001 - no package, no driver, no GPU: all mean "no GPUs to show"
            _nvml = False
    if not _nvml:
        return []
    out = []
    try:
        for i in range(_nvml.nvmlDeviceGetCount()):
            handle = _nvml.nvmlDeviceGetHandleByIndex(i)
            memory = _nvml.nvmlDeviceGetMemoryInfo(handle)
            out.append({"index": i, "name": str(_nvml.nvmlDeviceGetName(handle)),
                        "util": float(_nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                        "mem_used": int(memory.used), "mem_total": int(memory.total),
                        "temp": float(_nvml.nvmlDeviceGetTemperature(handle, _nvml.NVML_TEMPERATURE_GPU))})
    except Exception:  # noqa: BLE001 - a GPU that stops answering is left out of this sample
        return out
    return out


def sample(pid: int | None = None) -> SystemSample:
    """One sample; CPU % is since the previous call (the first call in a process reads 0)."""
    memory = psutil.virtual_memory()
    try:
        rss = psutil.Process(pid or os.getpid()).memory_info().rss
    except (psutil.Error, OSError):
        rss = 0
    return SystemSample(psutil.cpu_percent(None), int(memory.total - memory.available), int(memory.total),
                        int(rss), _gpus())
