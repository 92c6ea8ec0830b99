"""A run's environment.json, read without torch: what training/environment.py recorded when the run
started (versions, device, CPU, threads, precision, data fingerprint), and what differs between two."""
from __future__ import annotations

import json
from pathlib import Path

ENVIRONMENT = "environment.json"


def read(run_dir: Path) -> dict | None:
    try:
        env = json.loads((Path(run_dir) / ENVIRONMENT).read_text())
    except (OSError, ValueError):
        return None
    return env if isinstance(env, dict) else None


def differences(a: dict | None, b: dict | None) -> list[tuple[str, str, str]]:
    """(key, in a, in b) for each recorded fact that differs; the seed is a setting, the settings'
    diff shows it."""
    if not a or not b:
        return []
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in ("resumed", "seed")]
    return [(k, str(a.get(k, "-")), str(b.get(k, "-"))) for k in keys if a.get(k) != b.get(k)]
