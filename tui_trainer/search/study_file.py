"""Study files: a base config, a budget, an objective, a sampler, a pruner, fixed overrides and a
search space, in TOML a user can copy and edit (studies/*.toml are examples).

Every key of [set] and [space] is a config key and every bound or choice is checked by the config's
own rules, so a study that would fail on its tenth trial is refused before its first, with one line
naming the key and what is allowed. No optuna here: the file is read by the app too.
"""
from __future__ import annotations

import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import presets
from ..config import Config, ConfigError, allowed_text, check_field, field_info, split_path
from ..workspace.columns import format_value

OBJECTIVES = ("final_acc", "best_acc")
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
TOP_KEYS = ("description", "name", "preset", "storage", "trials", "timeout_minutes", "objective", "sampler", "pruner",
            "seed", "pruner_warmup_epochs", "pruner_startup_trials", "validation", "seeds", "set", "space")
# Training images a study holds out to rank its trials on, unless its file says `validation = N`:
# a study that picked its best trial on the test set would report that set's score as if unseen.
VALIDATION = 5000
RANGE_KEYS, CHOICE_KEYS = {"low", "high", "log", "step"}, {"choices", "values"}
MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Param:
    """One searched key: a numeric range (low, high, log, step) or a list of choices."""
    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()  # config values (lists stay lists); categorical when not empty

    @property
    def is_int(self) -> bool:
        return field_info(self.key)[0] is int

    def encoded_choices(self) -> list:
        """Optuna's categorical choices are scalars: a list value (model.widths) goes as JSON text."""
        return [encode(c) for c in self.choices]

    def decode(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and self.choices and isinstance(self.choices[0], list) else value

    def describe(self) -> str:
        if self.choices:
            return " | ".join(format_value(c, short=True) for c in self.choices)
        span = f"{self.low:g} .. {self.high:g}"
        return span + (" log" if self.log else "") + (f" step {self.step:g}" if self.step else "")


def encode(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


@dataclass
class StudySpec:
    path: Path
    name: str
    preset: str  # the base preset's name (runs are grouped by it)
    base: Config  # the preset with [set] applied
    space: list[Param]
    description: str = ""
    trials: int | None = None  # the study's total across all workers
    timeout_minutes: float | None = None
    objective: str = "final_acc"
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = None  # None: each worker draws its own
    pruner_warmup_epochs: int = 1  # epochs a trial trains before the median pruner may stop it
    pruner_startup_trials: int = 3  # trials that finish before any is pruned
    seeds: int = 1  # runs per trial, with run.seed, run.seed+1, ...: its value is their mean
    sets: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None  # the default --storage (a URL or a journal path), so the app finds it too

    @property
    def validation(self) -> int:
        """Training images every trial holds out; 0: the test set ranks the trials."""
        return self.base.data.validation

    @property
    def budget(self) -> int:
        """Trials in all: `trials`, or the grid's size; unbounded (timeout only) as MAX_TRIALS."""
        if self.sampler == "grid":
            return min(self.trials or MAX_TRIALS, len(self.grid_points()))
        return self.trials or MAX_TRIALS

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, encoded as Optuna stores them."""
        keys = [p.key for p in self.space]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(p.encoded_choices() for p in self.space))]

    def config_for(self, params: dict[str, Any]) -> Config:
        """The trial's config: the base with the sampled values (as Optuna stores them) decoded."""
        cfg = self.base.copy()
        for p in self.space:
            cfg.set(p.key, p.decode(params[p.key]))
        return cfg

    def decoded(self, params: dict[str, Any]) -> dict[str, Any]:
        by_key = {p.key: p for p in self.space}
        return {k: by_key[k].decode(v) if k in by_key else v for k, v in params.items()}

    def fingerprint(self) -> str:
        """What makes trials of this study comparable: the base config, space, sampler and objective."""
        import hashlib

        what = {"base": self.base.to_dict(), "space": [p.describe() + p.key for p in self.space],
                "sampler": self.sampler, "objective": self.objective}
        if self.seeds > 1:  # only then: studies from before seeds keep their fingerprint
            what["seeds"] = self.seeds
        return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]

    def pruning_problem(self) -> str | None:
        """Why the pruner can do nothing for these trials, if it cannot (said when a study starts)."""
        run = self.base.run
        if self.pruner == "none":
            return None
        if run.epochs == 1:
            return "the pruner cannot stop a trial of one epoch early"
        if run.eval_every >= run.epochs and "run.eval_every" not in {p.key for p in self.space}:
            return (f"the pruner cannot stop a trial early: run.eval_every = {run.eval_every} evaluates only after the "
                    f"last of {run.epochs} epochs; add \"run.eval_every\" = 1 under [set]")
        return None


def space_from_lines(text: str) -> dict[str, dict[str, Any]]:
    """The app's short form of [space], one key a line: `optimizer.lr = 0.1 .. 1 log`,
    `data.batch_size = 256 .. 1024 step 256`, `model.name = airbench | resnet9`. Blank lines and
    # comments are skipped; values are checked later, by the same rules as a study file's."""
    space: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, rest = (part.strip() for part in line.partition("="))
        if not eq or not key or not rest:
            raise ConfigError([f"line {n}: expected KEY = LOW .. HIGH [log] [step S], or KEY = A | B | C"])
        if ".." in rest:
            low, _, tail = rest.partition("..")
            words = tail.split()
            if not words:
                raise ConfigError([f"line {n}: {key}: a range needs a high end after '..'"])
            entry: dict[str, Any] = {"low": _number(low, n), "high": _number(words[0], n)}
            flags = words[1:]
            while flags:
                flag = flags.pop(0)
                if flag == "log":
                    entry["log"] = True
                elif flag == "step" and flags:
                    entry["step"] = _number(flags.pop(0), n)
                else:
                    raise ConfigError([f"line {n}: {key}: unknown {flag!r} (after the range: log, or step S)"])
            space[key] = entry
        else:
            space[key] = {"choices": [_choice_value(v.strip()) for v in rest.split("|")]}
    return space


def _number(text: str, line: int) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError([f"line {line}: {text.strip()!r} is not a number"]) from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _choice_value(text: str) -> Any:
    """A choice as TOML would read it: a number, true/false, a [list], or else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def study_toml(*, preset: str, trials: int | None, sampler: str, pruner: str, objective: str, description: str,
               sets: dict[str, Any], space: dict[str, dict[str, Any]], validation: int = VALIDATION) -> str:
    """A study file's text, as a user would write it (each search dimension an inline table on
    its line); tomlkit writes it, so any string reads back as it was. `trials` None: the grid's own size."""
    import tomlkit

    doc = tomlkit.document()
    doc.update({"description": description, "preset": preset})
    if trials is not None:
        doc["trials"] = trials
    doc.update({"objective": objective, "sampler": sampler, "pruner": pruner, "validation": validation, "set": sets})
    table = tomlkit.table()
    for key, entry in space.items():
        inline = tomlkit.inline_table()
        inline.update(entry)
        table[key] = inline
    doc["space"] = table
    return tomlkit.dumps(doc)


def save_study(folder: Path, name: str, base: Config, *, trials: int, sampler: str, pruner: str,
               objective: str, space_lines: str) -> Path:
    """Write a study over `base` (the Setup form's config) as FOLDER/NAME.toml, its base config beside
    it as NAME-base.toml; checked as any study file is, and nothing is left behind when refused."""
    from ..atomic import atomic_write
    from ..config import to_toml

    folder = Path(folder)
    check_name(name)
    base_path, path = folder / f"{name}-base.toml", folder / f"{name}.toml"
    if path.exists() or base_path.exists():
        raise ConfigError([f"name = {name!r}: {path} exists already; choose another name (a study of that name "
                           f"would join the old one's trials)"])
    folder.mkdir(parents=True, exist_ok=True)
    # The form's own split when it has one, else a study's default: trials are ranked on held-out images.
    fields = dict(sampler=sampler, pruner=pruner, objective=objective, space=space_from_lines(space_lines),
                  validation=base.data.validation or VALIDATION,
                  description=f"{name}: built from the Setup form",
                  sets={"run.eval_every": 1} if pruner != "none" and base.run.eval_every > 1 else {})
    trial_path = folder / f".{name}.checking.toml"
    atomic_write(base_path, lambda f: f.write(to_toml(base).encode()))
    trial_path.write_text(study_toml(preset=str(base_path), trials=trials, **fields), encoding="utf-8")
    try:
        spec = _parse(trial_path, tomllib.loads(trial_path.read_text(encoding="utf-8")) | {"name": name})
    except ConfigError:
        base_path.unlink(missing_ok=True)
        raise
    finally:
        trial_path.unlink(missing_ok=True)
    grid_size = spec.sampler == "grid" and trials > len(spec.grid_points())
    text = study_toml(preset=base_path.name, trials=None if grid_size else trials, **fields)
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def load_study(path: Path | str) -> StudySpec:
    """Read and check a study file; ConfigError (exit 2) with one line naming the key on any problem."""
    path = Path(path)
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError([f"cannot read: {e.strerror or e}"], source) from None
    except UnicodeDecodeError:
        raise ConfigError(["not a UTF-8 text file"], source) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"not valid TOML: {e}"], source) from None
    try:
        return _parse(path, raw)
    except ConfigError as e:
        raise ConfigError(e.problems[:1], source) from None  # one line: the first problem


def _parse(path: Path, raw: dict[str, Any]) -> StudySpec:
    def fail(message: str) -> ConfigError:
        return ConfigError([message])

    for key in raw:
        if key not in TOP_KEYS:
            raise fail(f"unknown key {key!r} (allowed: {', '.join(TOP_KEYS)})")
    name = check_name(_text(raw, "name", path.stem))
    if "preset" not in raw:
        raise fail("preset is missing: the base config, a preset name or a .toml path (see `tui-trainer presets`)")
    preset_ref = _text(raw, "preset", "")
    if not Path(preset_ref).is_absolute() and preset_ref.endswith(".toml") and not Path(preset_ref).exists():
        preset_ref = str(path.parent / preset_ref)  # a preset file next to the study file
    preset = presets.find(preset_ref)
    base = preset.load()

    spec = StudySpec(path=path, name=name, preset=preset.name, base=base, space=[],
                     description=_text(raw, "description", ""), storage=_text(raw, "storage", "") or None)
    spec.objective = _choice(raw, "objective", OBJECTIVES, spec.objective)
    spec.sampler = _choice(raw, "sampler", SAMPLERS, spec.sampler)
    spec.pruner = _choice(raw, "pruner", PRUNERS, spec.pruner)
    spec.trials = _whole(raw, "trials", 1, MAX_TRIALS)
    spec.seed = _whole(raw, "seed", 0, 2**31 - 1)
    spec.pruner_warmup_epochs = _whole(raw, "pruner_warmup_epochs", 0, 10_000, spec.pruner_warmup_epochs)
    spec.pruner_startup_trials = _whole(raw, "pruner_startup_trials", 0, 10_000, spec.pruner_startup_trials)
    spec.seeds = _whole(raw, "seeds", 1, 100, spec.seeds)
    if "timeout_minutes" in raw:
        t = raw["timeout_minutes"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 10_000_000:
            raise fail(f"timeout_minutes = {t!r} is invalid: expected a number of minutes above 0")
        spec.timeout_minutes = float(t)

    sets = raw.get("set", {})
    if not isinstance(sets, dict):
        raise fail('[set] must be a table of config keys, e.g. "run.epochs" = 4')
    for key, value in sets.items():
        base.set(key, value)  # ConfigError names the key and what is allowed
    spec.sets = dict(sets)
    if "data.validation" in sets and "validation" in raw:
        raise fail('validation and [set] "data.validation" both given: keep one')
    if "data.validation" not in sets:
        base.set("data.validation", _whole(raw, "validation", 0, 10_000_000, VALIDATION))

    space = raw.get("space", {})
    if not isinstance(space, dict) or not space:
        raise fail('[space] is missing or empty: give at least one key, e.g. "optimizer.lr" = { low = 0.01, high = 1.0, log = true }')
    for key, value in space.items():
        spec.space.append(_param(key, value, spec.sampler))
        if key in sets:
            raise fail(f"{key} is both in [set] and in [space]: keep it in one")
    if spec.trials is None and spec.timeout_minutes is None and spec.sampler != "grid":
        raise fail("no budget: give trials = N (the study's total across all workers) and/or timeout_minutes = M")
    return spec


def check_name(name: str) -> str:
    if not name or name.startswith((".", "-")) or any(not (c.isalnum() or c in "-_.") for c in name):
        raise ConfigError([f"name = {name!r} is invalid: use letters, digits, '-', '_' and '.', not "
                           f"starting with '-' or '.' (it names the study's folder and tags its runs)"])
    return name


def _param(key: str, spec: Any, sampler: str) -> Param:
    where = f"space.{key}"
    split_path(key)  # ConfigError: unknown key, with the allowed ones
    kind = field_info(key)[0]
    if not isinstance(spec, dict):
        raise ConfigError([f"{where}: expected {{ low = .., high = .. }} or {{ choices = [..] }}, got {spec!r}"])
    given = set(spec)
    if given - RANGE_KEYS - CHOICE_KEYS:
        raise ConfigError([f"{where}: unknown key(s) {', '.join(sorted(given - RANGE_KEYS - CHOICE_KEYS))} "
                           f"(allowed: low, high, log, step; or choices; or values for a grid)"])
    if given & CHOICE_KEYS:
        if len(given & CHOICE_KEYS) > 1 or given & RANGE_KEYS:
            raise ConfigError([f"{where}: give a range (low, high) or a list (choices / values), not both"])
        (which,) = given & CHOICE_KEYS
        items = spec[which]
        if not isinstance(items, list) or not items:
            raise ConfigError([f"{where}.{which}: expected a non-empty list of values for {key}"])
        checked = [check_field(key, v) for v in items]  # ConfigError: names the key and what it allows
        if len({json.dumps(v) for v in checked}) != len(checked):
            raise ConfigError([f"{where}.{which}: a value is listed twice"])
        return Param(key, choices=tuple(checked))
    if sampler == "grid":
        raise ConfigError([f"{where}: a grid study takes values = [...] for each key"])
    if kind not in (int, float):
        raise ConfigError([f"{where}: {key} is not a number ({allowed_text(key)}): give choices = [...]"])
    if "low" not in spec or "high" not in spec:
        raise ConfigError([f"{where}: a range needs both low and high"])
    low, high = check_field(key, spec["low"]), check_field(key, spec["high"])
    if not low < high:
        raise ConfigError([f"{where}: low = {low:g} must be below high = {high:g} (an empty or inverted range)"])
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError([f"{where}.log: expected true or false"])
    if log and low <= 0:
        raise ConfigError([f"{where}: a log range needs low above 0 (low = {low:g})"])
    step = spec.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= high - low \
                or (kind is int and not float(step).is_integer()):
            raise ConfigError([f"{where}.step = {step!r} is invalid: expected a{'n integer' if kind is int else ' number'} "
                               f"above 0 and at most high - low = {high - low:g}"])
        if log:
            raise ConfigError([f"{where}: log and step cannot go together (Optuna samples one or the other)"])
        if not math.isclose(((high - low) / step) % 1, 0, abs_tol=1e-9) and \
                not math.isclose(((high - low) / step) % 1, 1, abs_tol=1e-9):
            raise ConfigError([f"{where}: high - low = {high - low:g} is not a whole number of steps of {step:g}"])
    return Param(key, low=low, high=high, log=log, step=step)


def _text(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError([f"{key} = {value!r} is invalid: expected a string"])
    return value.strip()


def _choice(raw: dict, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError([f"{key} = {value!r} is invalid: expected one of {', '.join(allowed)}"])
    return value


def _whole(raw: dict, key: str, low: int, high: int, default: int | None = None) -> int | None:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError([f"{key} = {value!r} is invalid: expected an integer from {low} to {high}"])
    return value
