"""Default folders: built-in presets, data, runs and the user's own presets."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def builtin_presets() -> Path:
    """The built-in presets: inside the package when installed from a wheel (the build copies the
    top-level presets/ there), the checkout's presets/ when running from source."""
    return _shipped("presets")


def example_studies() -> Path:
    """The example study files (studies/ of the checkout), found the same way as the presets."""
    return _shipped("studies")


def _shipped(folder: str) -> Path:
    packaged = Path(str(resources.files("tui_trainer"))) / folder
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / folder


def default_data() -> str:
    return os.environ.get("TUI_TRAINER_DATA") or str(Path.home() / ".cache" / "tui-trainer" / "data")


def canonical_data(source: str) -> str:
    """A data source as a run records it: "synthetic", or an absolute path that works from any folder."""
    return source if source == "synthetic" else str(Path(source).expanduser().resolve())


def default_runs() -> Path:
    return Path("runs")


def cache_dir() -> Path:
    """Where tui-trainer keeps what it can always make again: decoded image folders, calibrations."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tui-trainer"


def user_presets() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer" / "presets"
