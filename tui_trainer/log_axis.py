"""Ticks for a log10 axis drawn on a linear scale: plotext's own log axes fail on a second build,
so every plot of LRs or losses (the app's widgets and the CLI's LR-finder plot) puts log10 values
on a linear axis and labels them with these."""
from __future__ import annotations

import math


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions (log10 values) and labels for a log10 axis drawn on a linear scale."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi - lo < 1e-9:
        return [lo], [f"{10 ** lo:.2g}"]
    ticks: list[float] = []
    mantissas = (1, 2, 5) if hi - lo <= 2.5 else (1,)
    for decade in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for m in mantissas:
            v = decade + math.log10(m)
            if lo - 1e-9 <= v <= hi + 1e-9:
                ticks.append(v)
    if len(ticks) < 2:  # less than a factor 2 of range: label the ends
        ticks = [lo, hi]
    return ticks, [_sci(10 ** t) for t in ticks]


def _sci(v: float) -> str:
    """2e-3, 1e-4, 5e0: short and the same shape on every tick."""
    mantissa, exponent = f"{v:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"
