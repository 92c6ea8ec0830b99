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
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..atomic import FULL, DiskFull, atomic_write
from ..config import Config, ConfigError, DataConfig, load_toml, to_toml
from ..events import BatchProgress, EpochEnded, Event, SystemSample, from_record, to_record
from .summary import SUMMARY, read_summary

METRICS = "metrics.csv"
EVENTS = "events.jsonl"
LIVE = "live.json"
CONFIG = "config.toml"
METRIC_FIELDS = [f.name for f in dataclasses.fields(EpochEnded)]


# What the trainer writes into every run folder it makes, from the start: a folder with none of them
# is not a run folder, whatever else it holds.
MARKS = (SUMMARY, EVENTS, METRICS)


def is_run_folder(path: Path) -> bool:
    return any((Path(path) / mark).is_file() for mark in MARKS)


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


@dataclass(frozen=True)
class RunData:
    """Which data a run trained on: the one answer resume, eval and the app's evaluation use."""
    source: str | None  # as its summary recorded it ("synthetic" or a folder); None: a run from before
    settings: DataConfig | None  # its config.toml's [data] (data set, labels, size); None: unreadable


def run_data(run_dir: Path) -> RunData:
    """The data `run_dir` was trained on; a checkpoint's run folder is two levels above it
    (RUN/checkpoints/best.pt). Reads summary.json and config.toml, never raises."""
    try:
        settings = read_config(run_dir).data
    except ConfigError:
        settings = None  # resume reports the broken config.toml itself
    try:
        summary = read_summary(run_dir)
    except ValueError:
        summary = None
    return RunData(summary.data if summary is not None else None, settings)


def _append_line(path: Path, line: str, durable: bool = True) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            if durable:
                os.fsync(f.fileno())
    except OSError as e:
        if e.errno in FULL:
            raise DiskFull(path, len(line.encode())) from None
        raise


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
        # .get: a metrics.csv from before validation splits has no val_ columns (nor train_seconds)
        return None if row.get(key) in ("", None) else kind(row[key])
    return EpochEnded(epoch=int(row["epoch"]), train_loss=num("train_loss"), train_acc=num("train_acc"),
                      test_loss=num("test_loss"), test_acc=num("test_acc"), lr=num("lr"),
                      seconds=num("seconds"), images_per_s=num("images_per_s"), is_best=row["is_best"] == "True",
                      val_loss=num("val_loss"), val_acc=num("val_acc"), train_seconds=num("train_seconds"))


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
    # Progress and system samples come four times a second and are stale a second later: a crash
    # may lose the last of them, so the training thread does not wait on the disk for them
    # (followers read the page cache either way). The rest is fsynced as it comes.
    _append_line(run_dir / EVENTS, json.dumps(to_record(event)) + "\n",
                 durable=not isinstance(event, (BatchProgress, SystemSample)))


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


# --- whole folders ---------------------------------------------------------------------------

def folder_size(run_dir: Path) -> int:
    """Bytes under `run_dir` (what deleting it frees)."""
    total = 0
    for root, _, files in os.walk(run_dir):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def delete_run(run_dir: Path) -> None:
    """Delete a run folder; refused (OSError) while a process trains it."""
    run_dir = Path(run_dir)
    if (pid := live_pid(run_dir)) is not None:
        raise OSError(f"{run_dir.name} is training now (pid {pid}); stop it first")
    if not (run_dir / CONFIG).exists() and not (run_dir / METRICS).exists() and not (run_dir / SUMMARY).exists():
        raise OSError(f"{run_dir} is not a run folder; not deleting it")
    shutil.rmtree(run_dir)
