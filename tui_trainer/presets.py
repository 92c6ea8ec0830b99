"""Preset discovery: the built-in TOML files and the user's own, by name."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import locations
from .atomic import atomic_write
from .config import Config, ConfigError, fit_epochs, load_toml, to_toml


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    builtin: bool

    def load(self) -> Config:
        return load_toml(self.path)

    def description(self) -> str:
        """The preset's one-line description, or why it cannot be read."""
        try:
            return self.load().description
        except ConfigError as e:
            return f"(invalid: {'; '.join(e.problems)})"


def discover() -> list[Preset]:
    """Built-in presets, then the user's; a user preset with a built-in's name shadows it."""
    found: dict[str, Preset] = {}
    for folder, builtin in ((locations.builtin_presets(), True), (locations.user_presets(), False)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = Preset(path.stem, path, builtin)
    return list(found.values())


def find(name_or_path: str) -> Preset:
    """A preset by name, or a TOML file by path; ConfigError names what is available."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or os.sep in name_or_path:
        if not path.is_file():
            raise ConfigError([f"preset file {name_or_path} does not exist"])
        return Preset(path.stem, path, False)
    for preset in discover():
        if preset.name == name_or_path:
            return preset
    names = ", ".join(p.name for p in discover())
    raise ConfigError([f"unknown preset {name_or_path!r} (available: {names}; or give a path to a .toml file)"])


def resolve(name_or_path: str, sets: Iterable[str] = (), epochs: int | None = None) -> tuple[Config, str]:
    """A preset with `--set KEY=VALUE` overrides and `--epochs N` applied, as `train` and a queued
    item build it, and the preset's name; ConfigError names the preset, key or value that is wrong.
    Another length keeps the shape of the preset's schedule (config.fit_epochs)."""
    found = find(name_or_path)
    cfg = found.load()
    planned, explicit = cfg.run.epochs, set()
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError([f"--set {item!r}: expected KEY=VALUE, e.g. optimizer.lr=0.01"])
        cfg.set(key.strip(), value)
        explicit.add(key.strip())
    if epochs is not None:
        cfg.set("run.epochs", epochs)
    fit_epochs(cfg, planned, keep=explicit)
    return cfg, found.name


def save_user_preset(name: str, cfg: Config) -> Path:
    """Write `cfg` as ~/.config/tui-trainer/presets/<name>.toml; returns the path."""
    clean = "".join(c for c in name.strip() if c.isalnum() or c in "-_")
    if not clean:
        raise ConfigError([f"preset name {name!r} is invalid: use letters, digits, '-' and '_'"])
    folder = locations.user_presets()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clean}.toml"
    atomic_write(path, lambda f: f.write(to_toml(cfg).encode()))
    return path
