"""The user's settings file, ~/.config/tui-trainer/settings.toml: what happens when a run ends.

    bell = true                       # ring the terminal bell when a run finishes, stops or fails
    notify_command = "notify-send tui-trainer"   # run with the run's summary as JSON on stdin

A missing file means the defaults; a broken one is reported in one line and the defaults used,
because a notification setting must never stop a run.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .text import clip


@dataclass
class Settings:
    bell: bool = True
    notify_command: str = ""  # a shell command; empty: none


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer" / "settings.toml"


def load_settings() -> tuple[Settings, str | None]:
    """The settings, and a one-line problem with the file (None when it is fine or absent)."""
    path = settings_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings(), None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return Settings(), f"{path}: {clip(str(e), 120)}; using the defaults"
    settings, problems = Settings(), []
    for key, value in raw.items():
        if key == "bell" and isinstance(value, bool):
            settings.bell = value
        elif key == "notify_command" and isinstance(value, str):
            settings.notify_command = value.strip()
        elif key in ("bell", "notify_command"):
            problems.append(f"{key} = {value!r} is invalid: expected {'true or false' if key == 'bell' else 'a string'}")
        else:
            problems.append(f"unknown key {key!r} (allowed: bell, notify_command)")
    return settings, (f"{path}: {'; '.join(problems)}" if problems else None)
