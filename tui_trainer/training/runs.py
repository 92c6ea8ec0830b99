"""Run folders: config.toml, metrics.csv, events.jsonl, checkpoints/, and the live marker.

metrics.csv and events.jsonl are appended one whole line per write() and fsynced, so a kill
leaves at most an unterminated last line, which readers skip and resume cuts off.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Config, load_toml, to_toml
from ..atomic import atomic_write
from .events import EpochEnded, Event, from_record, to_record

METRICS = "metrics.csv"
EVENTS = "events.jsonl"
LIVE = "live.json"
CONFIG = "config.toml"
METRIC_FIELDS = [f.name for f in dataclasses.fields(EpochEnded)]


def new_run_dir(runs_root: Path, preset: str) -> Path:
    """Create `<runs>/<YYYYmmdd-HHMMSS>-<preset>`; raises OSError if the folder cannot be written."""
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{safe_name(preset)}"
    for n in range(100):
        path = runs_root / (stem if n == 0 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / "checkpoints").mkdir()
        return path
    raise OSError(f"{runs_root}: too many runs started this second")


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "custom"


def check_writable(folder: Path) -> None:
    """Raise OSError with a clear message unless files can be created in `folder`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"runs folder {folder} is not writable: {e.strerror or e}") from None


def write_config(run_dir: Path, cfg: Config) -> None:
    atomic_write(run_dir / CONFIG, lambda f: f.write(to_toml(cfg).encode()))


def read_config(run_dir: Path) -> Config:
    return load_toml(run_dir / CONFIG)


def _append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def append_metrics(run_dir: Path, event: EpochEnded) -> None:
    path = run_dir / METRICS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if not path.exists() or path.stat().st_size == 0:
        writer.writerow(METRIC_FIELDS)
    writer.writerow(["" if v is None else v for v in dataclasses.astuple(event)])
    _append_line(path, buf.getvalue())


def read_metrics(run_dir: Path) -> list[EpochEnded]:
    """Complete rows only: a torn last line (a kill mid-write) is skipped."""
    path = Path(run_dir) / METRICS
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            rows.append(_row_to_epoch(row))
        except (KeyError, ValueError, TypeError):
            continue
    return rows


def _row_to_epoch(row: dict[str, str]) -> EpochEnded:
    def num(key: str, kind=float):
        return None if row[key] in ("", None) else kind(row[key])
    return EpochEnded(epoch=int(row["epoch"]), train_loss=num("train_loss"), train_acc=num("train_acc"),
                      test_loss=num("test_loss"), test_acc=num("test_acc"), lr=num("lr"),
                      seconds=num("seconds"), images_per_s=num("images_per_s"), is_best=row["is_best"] == "True")


def truncate_metrics(run_dir: Path, last_epoch: int) -> None:
    """Keep rows up to `last_epoch` (a resume redoes later epochs); rewrites atomically."""
    rows = [r for r in read_metrics(run_dir) if r.epoch <= last_epoch]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_FIELDS)
    for r in rows:
        writer.writerow(["" if v is None else v for v in dataclasses.astuple(r)])
    atomic_write(run_dir / METRICS, lambda f: f.write(buf.getvalue().encode()))


def append_event(run_dir: Path, event: Event) -> None:
    _append_line(run_dir / EVENTS, json.dumps(to_record(event)) + "\n")


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[Event], int]:
    """Events written since byte `offset`, and the offset to read from next time."""
    try:
        with open(Path(run_dir) / EVENTS, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1  # leave a line still being written for the next read
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(from_record(json.loads(line)))
        except (ValueError, TypeError, KeyError):
            continue
    return events, offset + end


# --- live marker: which process is training in this folder -----------------------------------

def mark_live(run_dir: Path) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    atomic_write(run_dir / LIVE, lambda f: f.write(json.dumps(info).encode()))


def clear_live(run_dir: Path) -> None:
    (Path(run_dir) / LIVE).unlink(missing_ok=True)


def live_pid(run_dir: Path) -> int | None:
    """The pid training this run right now, or None (finished, or its process died)."""
    try:
        info = json.loads((Path(run_dir) / LIVE).read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


# --- listing ----------------------------------------------------------------------------------

@dataclass
class RunInfo:
    path: Path
    preset: str
    started: datetime | None
    epochs_done: int
    epochs_planned: int | None
    best_acc: float | None
    best_epoch: int | None
    live: bool
    checkpoints: list[Path]

    @property
    def name(self) -> str:
        return self.path.name


def describe_run(run_dir: Path) -> RunInfo:
    run_dir = Path(run_dir)
    name = run_dir.name
    try:
        started = datetime.strptime(name[:15], "%Y%m%d-%H%M%S")
        preset = name[16:] or "custom"
    except ValueError:
        started, preset = None, name
    metrics = read_metrics(run_dir)
    best = next((m for m in reversed(metrics) if m.is_best), None)  # what best.pt holds
    try:
        planned: int | None = read_config(run_dir).run.epochs
    except Exception:  # noqa: BLE001 - a broken config.toml must not hide the run from the list
        planned = None
    ckpt_dir = run_dir / "checkpoints"
    checkpoints = sorted(ckpt_dir.glob("*.pt")) if ckpt_dir.is_dir() else []
    return RunInfo(run_dir, preset, started, len(metrics), planned,
                   best.test_acc if best else None, best.epoch if best else None,
                   live_pid(run_dir) is not None, checkpoints)


def list_runs(runs_root: Path) -> list[RunInfo]:
    """Run folders under `runs_root`, newest first."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and (p / CONFIG).exists()]
    return [describe_run(p) for p in sorted(dirs, key=lambda p: p.name, reverse=True)]


def run_summary(run: RunInfo) -> dict[str, Any]:
    return {"run_dir": str(run.path), "preset": run.preset, "epochs": run.epochs_done,
            "planned_epochs": run.epochs_planned, "best_acc": run.best_acc, "best_epoch": run.best_epoch,
            "live": run.live}
