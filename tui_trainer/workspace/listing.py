"""Listing a runs folder: one row per run from summary.json, config.toml and notes.json.

No torch here, and no checkpoint is opened: `tui-trainer runs` and the runs table must list a
thousand runs in well under a second. Runs written before summary.json existed are summarized
from their events.jsonl and metrics.csv. A folder that is half-written, torn or from another
version still gets a row, marked with its problem, never an exception.

`Listing` keeps rows between calls and re-reads a folder only when one of its files changed
(by mtime and size), so a screen can refresh every few seconds at no cost to a training run.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import all_paths
from ..events import RunFailed, RunFinished, RunStarted
from ..text import clip
from . import folder
from .notes import NOTES, read_notes
from .summary import SUMMARY, RunSummary, read_summary

# The files whose changes make a row stale; checkpoints/ for the checkpoint list.
KNOWN_KEYS = frozenset(all_paths())
WATCHED = (SUMMARY, folder.CONFIG, NOTES, folder.METRICS, folder.LIVE, "checkpoints")


@dataclass
class RunRow:
    path: Path
    summary: RunSummary
    state: str  # a summary state, or "unreadable"
    config: dict[str, Any] = field(default_factory=dict)  # dotted keys: "optimizer.lr" -> 0.1
    tags: list[str] = field(default_factory=list)
    note: str = ""
    problem: str | None = None  # what is wrong with the folder, shown in its row
    live: bool = False
    checkpoints: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def preset(self) -> str:
        return self.summary.preset

    @property
    def started(self) -> datetime | None:
        if self.summary.started_at:
            return datetime.fromtimestamp(self.summary.started_at)
        try:
            return datetime.strptime(self.name[:15], "%Y%m%d-%H%M%S")
        except ValueError:
            return None

    @property
    def epochs_done(self) -> int:
        return self.summary.epochs_done

    @property
    def epochs_planned(self) -> int | None:
        return self.summary.epochs_total

    @property
    def best_acc(self) -> float | None:
        return self.summary.best_acc

    @property
    def best_epoch(self) -> int | None:
        return self.summary.best_epoch

    def record(self) -> dict[str, Any]:
        """The flat record that filters, sorts and exports work on (see workspace/)."""
        s = self.summary
        started = self.started
        return {"name": self.name, "run_dir": str(self.path), "preset": s.preset,
                "date": started.strftime("%Y-%m-%d %H:%M") if started else None, "state": self.state,
                "message": s.message, "epochs": s.epochs_done, "epochs_total": s.epochs_total,
                "best_acc": s.best_acc, "best_epoch": s.best_epoch, "final_acc": s.final_acc,
                "final_tta": s.final_tta, "validation": s.validation, "val_acc": s.val_acc,
                "best_val_acc": s.best_val_acc, "best_val_epoch": s.best_val_epoch, "train_seconds": s.train_seconds, "images_per_s": s.images_per_s,
                "device": s.device, "precision": s.precision, "parameters": s.parameters, "data": s.data,
                "study": s.study, "trial": s.trial, "tags": list(self.tags), "note": self.note,
                "problem": self.problem, **self.config}


@dataclass
class CheckpointInfo:
    """What a listing shows of one checkpoint file (training.checkpoints.describe reads it)."""
    path: Path
    size: int
    epoch: int | None = None
    step: int = 0  # steps into the next epoch (a run stopped mid-epoch)
    test_acc: float | None = None
    error: str | None = None  # why the file cannot be used, without its path


def flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} -> {"optimizer.lr": 0.1}; the description is not a setting."""
    return {f"{section}.{key}": value for section, table in raw.items() if isinstance(table, dict)
            for key, value in table.items()}


def read_row(run_dir: Path) -> RunRow:
    """One run's row; whatever is wrong with the folder goes into `problem`."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    try:
        summary = read_summary(run_dir)
    except ValueError as e:
        problems.append(str(e))
        summary = None
    config = _config_of(run_dir, summary, problems)
    if summary is None:
        summary = summary_from_logs(run_dir)
    if summary.epochs_total is None and "run.epochs" in config:
        summary.epochs_total = config["run.epochs"]
    live = folder.live_pid(run_dir) is not None
    state = summary.state
    if state == "live" and not live:
        state = "failed"
        summary.message = summary.message or "the process ended without finishing (killed?); resume it from last.pt"
    elif live:
        state = "live"
    if summary.state == "unreadable":
        state = "unreadable"
        problems.append(summary.message or "half-written")
    notes = read_notes(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    checkpoints = sorted(ckpt_dir.glob("*.pt")) if ckpt_dir.is_dir() else []
    if "no config.toml" in problems:
        state = "unreadable"
    return RunRow(run_dir, summary, state, config, notes.tags, notes.note, "; ".join(problems) or None,
                  live, checkpoints)


def _config_of(run_dir: Path, summary: RunSummary | None, problems: list[str]) -> dict[str, Any]:
    """The run's settings, dotted: the copy in summary.json unless config.toml changed after it
    (parsing TOML is most of a listing's time), else config.toml itself."""
    toml = run_dir / folder.CONFIG
    try:
        toml_mtime = toml.stat().st_mtime_ns
    except OSError:
        problems.append("no config.toml")
        return {}
    if summary is not None and summary.config and (run_dir / SUMMARY).stat().st_mtime_ns >= toml_mtime:
        return dict(summary.config)
    try:
        raw = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        problems.append(f"config.toml unreadable: {clip(str(e), 80)}")
        return {}
    config = flatten(raw)
    # Keys only, not values: this version's trainer wrote them valid, and validating every value
    # of a thousand configs would cost the listing most of its time.
    unknown = [k for k in config if k not in KNOWN_KEYS] + [
        k for k, v in raw.items() if not isinstance(v, dict) and k != "description"]
    if unknown:  # an older or newer version's keys: shown, not fatal
        problems.append(f"config.toml: unknown keys {clip(', '.join(unknown), 140)} (another version?)")
    return config


def summary_from_logs(run_dir: Path) -> RunSummary:
    """What a run written before summary.json says of itself in events.jsonl and metrics.csv."""
    name = run_dir.name
    summary = RunSummary(preset=name[16:] or "custom" if name[:8].isdigit() else name, state="unreadable",
                         message="half-written: no summary.json, events.jsonl or metrics.csv")
    events, _ = folder.read_events(run_dir)
    metrics = folder.read_metrics(run_dir)
    for event in events:
        if isinstance(event, RunStarted):
            summary.device, summary.precision, summary.parameters = event.device, event.precision, event.parameters
            summary.data = event.data or None
            summary.state, summary.message = "live", None
        elif isinstance(event, RunFinished):
            summary.state = event.state or ("stopped" if event.stopped else "finished")
            summary.message = event.ended
            summary.final_acc = event.final_acc
            summary.final_tta = bool(event.final_acc is not None and not event.stopped
                                     and (not metrics or event.final_acc != metrics[-1].test_acc))
        elif isinstance(event, RunFailed):
            summary.state, summary.message = "failed", event.message
    if metrics and summary.state == "unreadable":
        summary.state, summary.message = "live", None  # metrics but no events: treated as a killed run below
    best = next((m for m in reversed(metrics) if m.is_best), None)
    summary.epochs_done = len(metrics)
    summary.best_acc, summary.best_epoch = (best.test_acc, best.epoch) if best else (None, None)
    summary.train_seconds = sum(m.seconds or 0.0 for m in metrics)
    return summary


def _stamp(run_dir: str) -> tuple:
    # Plain strings, not Paths: at a thousand runs, pathlib's joins cost more than the stats.
    out = []
    for name in WATCHED:
        try:
            st = os.stat(f"{run_dir}/{name}")
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class Listing:
    """The runs under one folder, newest first, re-reading only folders whose files changed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._rows: dict[str, tuple[tuple, RunRow]] = {}

    def rows(self) -> list[RunRow]:
        if not self.root.is_dir():
            return []
        try:
            with os.scandir(self.root) as entries:
                dirs = [e.path for e in entries if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            return []
        fresh: dict[str, tuple[tuple, RunRow]] = {}
        for path in dirs:
            stamp = _stamp(path)
            if all(s is None for s in stamp[:2] + stamp[3:4]):
                continue  # no summary, config or metrics: not a run folder
            cached = self._rows.get(path)
            # A live run's row is re-read each time: its process may have died without a file change.
            if cached is not None and cached[0] == stamp and not cached[1].live:
                fresh[path] = cached
                continue
            row = read_row(path)
            # The same object for an unchanged row: a screen redraws only when a row changed.
            fresh[path] = (stamp, cached[1] if cached is not None and cached[1] == row else row)
        self._rows = fresh
        return [row for _, row in sorted(fresh.values(), key=lambda item: item[1].name, reverse=True)]


def list_rows(root: Path) -> list[RunRow]:
    return Listing(root).rows()
