"""Typed run configuration: six sections, per-field validation, TOML load and save.

Every field carries its allowed range or choices in its metadata, so the CLI (`--set`), preset
files and the editor screen all validate through `check_field` and report the same message.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, get_type_hints


class ConfigError(ValueError):
    """One or more invalid settings; the message names each field, the value and what is allowed."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(problems))


def setting(default: Any, help: str, *, min: float | None = None, max: float | None = None,
            choices: tuple[str, ...] | None = None, length: int | None = None) -> Any:
    meta = {"help": help, "min": min, "max": max, "choices": choices, "length": length}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


MODEL_NAMES = ("seed_cnn", "airbench", "resnet9", "resnet18")
OPTIMIZERS = ("sgd", "adam", "adamw", "muon")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangular2", "linear")
PRECISIONS = ("auto", "fp32", "bf16")


DATASETS = ("auto", "cifar10", "cifar100", "folders")


@dataclass
class DataConfig:
    dataset: str = setting("auto", "which data set of the data folder (auto: the only one there)", choices=DATASETS)
    cifar100_labels: str = setting("fine", "CIFAR-100: the 100 fine classes or the 20 coarse superclasses",
                                   choices=("fine", "coarse"))
    image_size: int = setting(32, "image side in pixels (image folders are resized to it; CIFAR is 32)",
                              min=8, max=256)
    batch_size: int = setting(512, "images per training step", min=1, max=8192)
    mean: list[float] = setting([0.4914, 0.4822, 0.4465], "per-channel mean for normalization",
                                min=0.0, max=1.0, length=3)
    std: list[float] = setting([0.2023, 0.1994, 0.2010], "per-channel std for normalization",
                               min=1e-3, max=1.0, length=3)
    validation: int = setting(0, "training images held out to choose on (best.pt, early stopping, pruning, "
                                 "search); 0: off, the test set chooses; an image folder's val/ when there",
                              min=0, max=10_000_000)
    validation_seed: int = setting(0, "seed of the held-out draw, apart from run.seed so that every seed holds "
                                      "out the same images", min=0, max=2**31 - 1)


@dataclass
class ModelConfig:
    name: str = setting("airbench", "network architecture", choices=MODEL_NAMES)
    widths: list[int] = setting([], "channel widths per stage (empty: the model's default)",
                                min=1, max=2048)
    zero_gamma: bool = setting(False, "zero-init the last BatchNorm of each residual block")


@dataclass
class OptimizerConfig:
    name: str = setting("sgd", "optimizer", choices=OPTIMIZERS)
    lr: float = setting(0.1, "peak learning rate (muon: of the head and biases)", min=1e-6, max=10.0)
    momentum: float = setting(0.9, "SGD momentum (Adam beta1; muon: of the head and biases)",
                              min=0.0, max=0.999)
    nesterov: bool = setting(True, "Nesterov momentum (SGD and muon)")
    weight_decay: float = setting(5e-4, "L2 weight decay (decoupled for AdamW; muon: not the conv filters)",
                                  min=0.0, max=1.0)
    no_bias_decay: bool = setting(True, "exempt biases and norm parameters from weight decay")
    bias_lr_scale: float = setting(1.0, "LR multiplier for biases and norm parameters (airbench: 64)",
                                   min=0.01, max=1000.0)
    muon_lr: float = setting(0.1, "muon: peak LR of the conv filters (the rest takes SGD at lr)",
                             min=1e-6, max=10.0)
    muon_momentum: float = setting(0.6, "muon: momentum of the conv filters", min=0.0, max=0.999)


@dataclass
class ScheduleConfig:
    name: str = setting("cosine", "learning-rate schedule", choices=SCHEDULES)
    warmup_epochs: float = setting(0.0, "linear warmup from 0 (cosine, linear, onecycle)",
                                   min=0.0, max=1000.0)
    final_lr_factor: float = setting(0.0, "last LR as a fraction of the peak", min=0.0, max=1.0)
    milestones: list[float] = setting([], "epochs where the step schedule multiplies by gamma",
                                      min=0.0, max=10000.0)
    gamma: float = setting(0.1, "step schedule factor", min=0.0, max=1.0)
    cycle_epochs: float = setting(2.0, "triangular2: half-cycle length in epochs",
                                  min=0.01, max=1000.0)
    base_lr_factor: float = setting(0.5, "triangular2: low LR as a fraction of lr", min=0.0, max=1.0)
    max_lr_factor: float = setting(2.0, "triangular2: high LR as a multiple of lr", min=1.0, max=100.0)


@dataclass
class AugmentConfig:
    crop_padding: int = setting(4, "random crop after padding by this many pixels (0: off)",
                                min=0, max=16)
    pad_mode: str = setting("reflect", "padding for the random crop", choices=("zeros", "reflect"))
    flip: str = setting("random", "horizontal flip", choices=("none", "random", "alternating"))
    cutout: int = setting(0, "side of the square cut out of each image (0: off)", min=0, max=32)
    mixup_alpha: float = setting(0.0, "MixUp Beta(alpha, alpha) (0: off)", min=0.0, max=10.0)
    cutmix_alpha: float = setting(0.0, "CutMix Beta(alpha, alpha) (0: off)", min=0.0, max=10.0)
    mix_prob: float = setting(1.0, "fraction of batches mixed when MixUp/CutMix is on",
                              min=0.0, max=1.0)
    label_smoothing: float = setting(0.0, "label smoothing", min=0.0, max=0.9)
    fixed: bool = setting(False, "crop, flip and cutout drawn once per image and kept every epoch (the "
                                 "seed notebook's list of transformed images); the order still changes")


@dataclass
class RunConfig:
    epochs: int = setting(10, "training epochs", min=1, max=10000)
    seed: int = setting(0, "random seed for init, shuffling and augmentation", min=0, max=2**31 - 1)
    seeds: int = setting(1, "train these settings this many times, with seeds seed, seed+1, ...: a seed group "
                            "(one run folder each, one after another) whose mean and interval the Runs screen shows",
                         min=1, max=100)
    best_after_epoch: int = setting(0, "best.pt is kept only for epochs after this one", min=0, max=10000)
    eval_every: int = setting(1, "evaluate on the test split every N epochs (and the last)",
                              min=1, max=10000)
    precision: str = setting("auto", "bf16 autocast + channels_last where fast", choices=PRECISIONS)
    ema_decay: float = setting(0.0, "EMA of weights used for evaluation (0: off)", min=0.0, max=0.99999)
    tta: bool = setting(False, "evaluate with flip + translate test-time augmentation")
    tta_share: float = setting(1.0, "TTA's six views for this share of the test images, those the plain "
                                    "evaluation was least sure of; the rest keep their plain answer (0.25: 2.5 "
                                    "views of work at the end instead of 7)", min=0.01, max=1.0)
    early_stop_patience: int = setting(0, "stop after this many epochs without a test-accuracy gain (0: off)",
                                       min=0, max=10000)
    early_stop_min_delta: float = setting(0.0, "the smallest test-accuracy gain that counts as one (0.002: 0.2 points)",
                                          min=0.0, max=1.0)
    tensorboard: bool = setting(False, "also write TensorBoard scalars under the run folder (the tensorboard extra)")
    budget_s: float = setting(0.0, "train for this long, from start to exit (90, 90s, 3m, 1h; 0: off): the plan "
                                   "picks the net and its epochs, and the LR schedule follows the clock",
                              min=0.0, max=7 * 24 * 3600.0)
    sync_bn: bool = setting(False, "BatchNorm statistics over the global batch when training on several CUDA "
                                   "processes (--nproc); off, each process normalizes its own slice")


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "optimizer": OptimizerConfig,
    "schedule": ScheduleConfig, "augment": AugmentConfig, "run": RunConfig,
}


@dataclass
class Config:
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str | None = None) -> Config:
        """Build from a (partial) nested dict; unknown keys and bad values are all reported."""
        problems: list[str] = []
        cfg = cls()
        for key, value in raw.items():
            if key == "description":
                if not isinstance(value, str):
                    problems.append(f"description: {value!r} is not a string")
                else:
                    cfg.description = value
            elif key not in SECTIONS:
                problems.append(f"unknown section or key {key!r} (allowed: description, {', '.join(SECTIONS)})")
            elif not isinstance(value, dict):
                problems.append(f"{key}: expected a table of settings, got {value!r}")
            else:
                for name, v in value.items():
                    try:
                        cfg.set(f"{key}.{name}", v)
                    except ConfigError as e:
                        problems.extend(e.problems)
        if problems:
            raise ConfigError(problems, source)
        return cfg

    def set(self, path: str, value: Any) -> None:
        """Set one dotted key (`optimizer.lr`) after validating it; strings are parsed."""
        section, name = split_path(path)
        setattr(getattr(self, section), name, check_field(path, value))

    def get(self, path: str) -> Any:
        section, name = split_path(path)
        return getattr(getattr(self, section), name)

    def copy(self) -> Config:
        return Config.from_dict(self.to_dict())


# Settings counted in epochs that shape a run (its warmup, its step milestones, triangular2's
# half-cycle, when best.pt starts being kept): a preset given another length keeps their share of it.
EPOCH_KEYED = ("schedule.warmup_epochs", "schedule.milestones", "schedule.cycle_epochs", "run.best_after_epoch")


def fit_epochs(cfg: Config, planned: int, keep: Iterable[str] = ()) -> None:
    """Scale `cfg`'s epoch-keyed settings from a run of `planned` epochs to its run.epochs, in place,
    but those named in `keep` (set explicitly). So `cpu-quick --epochs 1` warms up for a sixth of its
    one epoch, as cpu-quick does of its six, instead of warming up all run long and never decaying.
    A resumed run never comes here: --epochs there extends the run it was."""
    factor = cfg.run.epochs / planned
    if factor == 1:
        return
    for path in EPOCH_KEYED:
        if path in keep:
            continue
        value = cfg.get(path)
        if path == "run.best_after_epoch":
            cfg.set(path, int(value * factor))
        elif isinstance(value, list):
            cfg.set(path, [v * factor for v in value])
        else:
            _, meta, _ = field_info(path)
            cfg.set(path, min(max(value * factor, meta["min"]), meta["max"]))


def data_settings(raw: Any) -> DataConfig:
    """The data settings a recorded `[data]` table holds (a checkpoint's or a run's), tolerantly:
    missing keys (an older version) take their defaults, unknown ones (a newer version) are
    dropped, and a value this version refuses falls back to the keys that pick the images."""
    if not isinstance(raw, dict):
        return DataConfig()
    known = {k: v for k, v in raw.items() if k in DataConfig.__dataclass_fields__}
    for table in (known, {k: known[k] for k in ("dataset", "cifar100_labels", "image_size") if k in known}):
        try:
            return Config.from_dict({"data": table}).data
        except ConfigError:
            continue
    return DataConfig()


def split_path(path: str) -> tuple[str, str]:
    section, _, name = path.partition(".")
    if section not in SECTIONS or not name:
        raise ConfigError([f"unknown key {path!r} (keys look like optimizer.lr; sections: {', '.join(SECTIONS)})"])
    if name not in {f.name for f in fields(SECTIONS[section])}:
        allowed = ", ".join(f.name for f in fields(SECTIONS[section]))
        raise ConfigError([f"unknown key {path!r} (allowed in [{section}]: {allowed})"])
    return section, name


def field_info(path: str) -> tuple[type, dict[str, Any], Any]:
    """The declared type, the metadata (help, min, max, choices, length) and the default."""
    kind, meta, f = _field_spec(path)
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return kind, dict(meta), default


@functools.cache
def _field_spec(path: str) -> tuple[type, dict[str, Any], dataclasses.Field]:
    # Cached: get_type_hints evaluates every annotation of the section each call, which made
    # validating a thousand run configs (a runs listing) take seconds.
    section, name = split_path(path)
    cls = SECTIONS[section]
    f = next(f for f in fields(cls) if f.name == name)
    return get_type_hints(cls)[name], f.metadata, f


def all_paths() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]


@functools.cache
def allowed_text(path: str) -> str:
    kind, meta, _ = field_info(path)
    if meta["choices"]:
        return "one of " + ", ".join(meta["choices"])
    if kind is bool:
        return "true or false"
    item = {int: "an integer", float: "a number", list[int]: "integers", list[float]: "numbers"}[kind]
    span = ""
    if meta["min"] is not None and meta["max"] is not None:
        span = f" from {meta['min']:g} to {meta['max']:g}"
    if kind in (list[int], list[float]):
        count = f"{meta['length']} " if meta["length"] else "a list of "
        return f"{count}{item}{span}, comma-separated"
    if path in DURATION_KEYS:
        return f"seconds{span} (or 90s, 3m, 1h; 0: off)"
    return item + span


DURATION_KEYS = frozenset({"run.budget_s"})  # take 90, "90s", "3m", "1h" as well as seconds
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "3m", "1.5h" (ValueError otherwise)."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    seconds = float(text[:-1] if unit else text) * (unit or 1)
    if not math.isfinite(seconds):
        raise ValueError(text)
    return seconds


def check_field(path: str, value: Any) -> Any:
    """Return `value` converted to the field's type, or raise ConfigError naming field and range."""
    kind, meta, _ = _field_spec(path)
    bad = ConfigError([f"{path} = {value!r} is invalid: expected {allowed_text(path)}"])
    try:
        if path in DURATION_KEYS and isinstance(value, str):
            value = parse_duration(value)
        if kind is str:
            if not isinstance(value, str) or (meta["choices"] and value not in meta["choices"]):
                raise bad
            return value
        if kind is bool:
            return _to_bool(value, bad)
        if kind in (int, float):
            return _to_number(value, kind, meta, bad)
        items = _to_list(value, bad)
        item_kind = int if kind == list[int] else float
        out = [_to_number(v, item_kind, meta, bad) for v in items]
        if meta["length"] and len(out) != meta["length"]:
            raise bad
        return out
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise bad from None


def _to_bool(value: Any, bad: ConfigError) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise bad


def _to_number(value: Any, kind: type, meta: dict, bad: ConfigError) -> int | float:
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        value = value.strip()
        number: float = int(value) if kind is int else float(value)
    elif isinstance(value, (int, float)):
        number = value
    else:
        raise bad
    if kind is int:
        if isinstance(number, float) and not number.is_integer():
            raise bad
        number = int(number)
    else:
        number = float(number)
        if not math.isfinite(number):
            raise bad
    if (meta["min"] is not None and number < meta["min"]) or (meta["max"] is not None and number > meta["max"]):
        raise bad
    return number


def _to_list(value: Any, bad: ConfigError) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip().strip("[]")
        return [v for v in (p.strip() for p in text.split(",")) if v]
    raise bad


# --- TOML -------------------------------------------------------------------------------------

def load_toml(path: Path) -> Config:
    """Read a preset or config.toml; errors name the file, and the line and column for bad TOML."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"cannot read: {e.strerror or e}"], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["not a UTF-8 text file"], str(path)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"not valid TOML: {e}"], str(path)) from None
    return Config.from_dict(raw, str(path))


def to_toml(cfg: Config) -> str:
    """The config as TOML text, written by tomlkit so that every string (a description holding an
    ESC, quotes or a newline) reads back as it was."""
    import tomlkit

    return tomlkit.dumps({"description": cfg.description,
                          **{section: dataclasses.asdict(getattr(cfg, section)) for section in SECTIONS}})
