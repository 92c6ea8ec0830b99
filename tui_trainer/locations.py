"""Default folders: data, runs and the user's own presets."""
from __future__ import annotations

import os
from pathlib import Path

BUILTIN_PRESETS = Path(__file__).resolve().parent.parent / "presets"


def default_data() -> str:
    return os.environ.get("TUI_TRAINER_DATA") or str(Path.home() / ".cache" / "tui-trainer" / "data")


def default_runs() -> Path:
    return Path("runs")


def user_presets() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer" / "presets"
