"""The run queue's store: runs waiting their turn in `<runs>/queue/queue.json`, what the runner
(training/queue_runner.py) trains now and what it ran, each an ordinary run folder of the runs folder.

The app, the CLI and the runner all edit that one file: every edit is a read-modify-write under
an flock on `<runs>/queue/.lock`, written atomically, so none loses another's edit and a reader
never sees half a file. The runner marks itself live in the queue folder (live.json, as a run
does) and obeys the queue folder's control file; it usually runs as a detached process
(start_runner), so closing the app or an SSH drop never reaches it. No torch here: listing and
editing the queue answer at once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import locations, presets
from ..atomic import atomic_write
from ..config import Config
from ..control import CONTROL_FILE, send_command
from ..events import RunFailed, RunFinished
from ..text import clip
from . import folder
from .listing import flatten
from .summary import read_summary

QUEUE_DIR, QUEUE_FILE, LOCK_FILE, LOG_FILE = "queue", "queue.json", ".lock", "runner.log"
VERSION = 1
INTERRUPTED = "interrupted"  # a done state of its own: the runner died (a kill, a reboot) mid-run


class QueueError(Exception):
    """An edit that cannot be done (an unknown id, an unreadable queue file); one line saying why."""


class QueueFileError(QueueError):
    """queue.json cannot be read: it is left as it is for the user to look at, never overwritten."""


class QueueBusy(QueueError):
    def __init__(self, pid: int, folder: Path):
        self.pid = pid
        super().__init__(f"the queue of {folder.parent} is already being run by pid {pid}")


@dataclass
class QueueItem:
    """A run waiting its turn: `tui-trainer train --preset P --set ... [--epochs N] [--data D]`."""
    id: int  # stable and increasing: never reused, so a remove or move never hits another item
    preset: str  # a preset name, or an absolute path to a .toml file
    sets: list[str] = field(default_factory=list)  # "KEY=VALUE"
    epochs: int | None = None
    data: str | None = None  # None: the runner's --data
    added_at: float = 0.0

    def describe(self) -> str:
        parts = [self.preset, *(f"--set {s}" for s in self.sets)]
        if self.epochs is not None:
            parts.append(f"--epochs {self.epochs}")
        if self.data:
            parts.append(f"--data {self.data}")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> QueueItem:
        return cls(int(raw["id"]), str(raw["preset"]), [str(s) for s in raw.get("sets", [])], raw.get("epochs"),
                   raw.get("data"), float(raw.get("added_at", 0.0)))


@dataclass
class Running:
    """The item the runner trains now."""
    item: QueueItem
    run_dir: str | None  # None until the trainer has made its folder
    started_at: float
    pid: int

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "item": self.item.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Running:
        return cls(QueueItem.from_json(raw["item"]), raw.get("run_dir"), float(raw["started_at"]), int(raw["pid"]))


@dataclass
class Done:
    """An item that has had its turn, and how its run ended."""
    item: QueueItem
    state: str  # the run's summary state (finished, stopped, stopped early, pruned, failed) or interrupted
    run_dir: str | None  # None when it failed before it had a folder (its preset went missing)
    best_acc: float | None
    final_acc: float | None
    message: str | None
    started_at: float
    finished_at: float

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "item": self.item.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Done:
        return cls(QueueItem.from_json(raw["item"]), str(raw["state"]), raw.get("run_dir"), raw.get("best_acc"),
                   raw.get("final_acc"), raw.get("message"), float(raw["started_at"]), float(raw["finished_at"]))

    @classmethod
    def of_run(cls, item: QueueItem, result: RunFinished | RunFailed, started_at: float) -> Done:
        """From the run's summary.json, which knows the ends the result does not name (stopped early)."""
        summary = None
        if result.run_dir is not None:
            with contextlib.suppress(ValueError):
                summary = read_summary(Path(result.run_dir))
        if isinstance(result, RunFailed):
            state, message = "failed", result.message
        else:
            state = summary.state if summary is not None and summary.state != "live" else (
                "stopped" if result.stopped else "finished")
            message = summary.message if summary is not None else None
        best, final = ((summary.best_acc, summary.final_acc) if summary is not None else
                       (result.best_acc, result.final_acc) if isinstance(result, RunFinished) else (None, None))
        return cls(item, state, str(Path(result.run_dir).resolve()) if result.run_dir else None, best, final,
                   message, started_at, time.time())

    @classmethod
    def interrupted(cls, running: Running) -> Done:
        hint = (f"; resume it with: tui-trainer train --resume {running.run_dir}" if running.run_dir
                else " before its run began")
        return cls(running.item, INTERRUPTED, running.run_dir, None, None,
                   f"the queue runner (pid {running.pid}) ended during this run{hint}", running.started_at, time.time())


@dataclass
class QueueState:
    """queue.json, and (from snapshot) the live runner's pid."""
    next_id: int = 1
    items: list[QueueItem] = field(default_factory=list)
    running: Running | None = None
    done: list[Done] = field(default_factory=list)
    runner: int | None = None  # not stored: read from live.json

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "next_id": self.next_id, "items": [i.to_json() for i in self.items],
                "running": self.running.to_json() if self.running else None,
                "done": [d.to_json() for d in self.done]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> QueueState:
        return cls(int(raw.get("next_id", 1)), [QueueItem.from_json(i) for i in raw.get("items", [])],
                   Running.from_json(raw["running"]) if raw.get("running") else None,
                   [Done.from_json(d) for d in raw.get("done", [])])

    def find(self, item_id: int) -> int:
        """The index of queued item `item_id`; QueueError says what is queued instead."""
        for index, item in enumerate(self.items):
            if item.id == item_id:
                return index
        if self.running is not None and self.running.item.id == item_id:
            raise QueueError(f"#{item_id} is training now; stop it first (tui-trainer queue stop)")
        queued = ", ".join(f"#{i.id}" for i in self.items)
        raise QueueError(f"no queued item #{item_id} ({f'queued: {queued}' if queued else 'the queue is empty'})")


def config_sets(base: Config, cfg: Config) -> list[str]:
    """The --set items that turn `base` (a preset) into `cfg` (an edited copy of it): the app queues
    its edited config as the preset and these, which the queue list shows as they are."""
    old = flatten(base.to_dict())
    return [f"{key}={_as_text(value)}" for key, value in flatten(cfg.to_dict()).items() if old.get(key) != value]


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class Queue:
    def __init__(self, runs_dir: Path | str):
        self.runs_dir = Path(runs_dir)
        self.folder = self.runs_dir / QUEUE_DIR
        self.path = self.folder / QUEUE_FILE

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> QueueState:
        """Everything at one moment; an item whose runner died shows as done and interrupted, as the
        next runner records it."""
        if not self.path.exists():
            return QueueState()
        with self._locked(fcntl.LOCK_SH) as state:
            state.runner = folder.live_pid(self.folder)
        if state.running is not None and state.runner is None:
            state.done.append(Done.interrupted(state.running))
            state.running = None
        return state

    def items(self) -> list[QueueItem]:
        return self.snapshot().items

    def history(self) -> list[Done]:
        return self.snapshot().done

    # --- editing ------------------------------------------------------------------------------

    def add(self, preset: str, sets: Iterable[str] = (), epochs: int | None = None,
            data: str | None = None) -> QueueItem:
        """Queue a run at the end; refused (ConfigError) now, as `train` would refuse it, not hours
        later when its turn comes."""
        sets = list(sets)
        _, name = presets.resolve(preset, sets, epochs)
        # A file by its absolute path and data the same way: the runner may start in another folder.
        stored = preset if name == preset else str(presets.find(preset).path.resolve())
        with self._edit() as state:
            item = QueueItem(state.next_id, stored, sets, epochs, locations.canonical_data(data) if data else None,
                             time.time())
            state.next_id += 1
            state.items.append(item)
        return item

    def remove(self, item_id: int) -> QueueItem:
        with self._edit() as state:
            return state.items.pop(state.find(item_id))

    def move(self, item_id: int, delta: int) -> int:
        """Move an item `delta` places (negative: sooner), stopping at either end; its new index."""
        with self._edit() as state:
            index = state.find(item_id)
            return _move(state, index, index + delta)

    def move_to(self, item_id: int, index: int) -> int:
        """Move an item to `index` (0: next to run; past the end: last); its new index."""
        with self._edit() as state:
            return _move(state, state.find(item_id), index)

    # --- the runner's ---------------------------------------------------------------------------

    def pop_next(self) -> QueueItem | None:
        """Take the first item off the queue as the one running now."""
        with self._edit() as state:
            if not state.items:
                return None
            item = state.items.pop(0)
            state.running = Running(item, None, time.time(), os.getpid())
            return item

    def record_run_dir(self, run_dir: Path | str) -> None:
        with self._edit() as state:
            if state.running is not None:
                state.running.run_dir = str(Path(run_dir).resolve())

    def record_done(self, done: Done) -> None:
        with self._edit() as state:
            state.running = None
            state.done.append(done)

    def claim(self) -> None:
        """Become the runner of this queue, or QueueBusy when a live one is; under the lock, so two
        runners started at once cannot both claim it."""
        with self._edit() as state:
            if (pid := folder.live_pid(self.folder)) is not None:
                raise QueueBusy(pid, self.folder)
            if state.running is not None:
                state.done.append(Done.interrupted(state.running))
                state.running = None
            # A stop written for a runner that ended before it read it is not for this one.
            (self.folder / CONTROL_FILE).unlink(missing_ok=True)
            folder.mark_live(self.folder)

    def release(self) -> None:
        try:
            with self._edit() as state:
                if state.running is not None:  # a second Ctrl-C, or a bug: the run did not end
                    state.done.append(Done.interrupted(state.running))
                    state.running = None
        finally:
            folder.clear_live(self.folder)

    # --- the file -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[QueueState]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, mode)  # released when the file closes
            yield self._read()

    @contextlib.contextmanager
    def _edit(self) -> Iterator[QueueState]:
        """Read, let the caller change, write: all under the lock. An exception writes nothing."""
        with self._locked(fcntl.LOCK_EX) as state:
            yield state
            text = json.dumps(state.to_json(), indent=1).encode()
            atomic_write(self.path, lambda f: f.write(text))

    def _read(self) -> QueueState:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return QueueState()
        except (UnicodeDecodeError, ValueError) as e:
            raise QueueFileError(f"{self.path} is unreadable ({clip(str(e), 80)}); fix or delete it") from None
        try:
            return QueueState.from_json(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise QueueFileError(f"{self.path} is not a queue file this version reads ({e!r:.80})") from None


def _move(state: QueueState, index: int, to: int) -> int:
    item = state.items.pop(index)
    to = max(0, min(to, len(state.items)))
    state.items.insert(to, item)
    return to


# --- the runner --------------------------------------------------------------------------------

def runner_pid(runs_dir: Path | str) -> int | None:
    """The pid of the live runner of this runs folder's queue, or None."""
    return folder.live_pid(Path(runs_dir) / QUEUE_DIR)


def request_stop(runs_dir: Path | str) -> int | None:
    """Ask the live runner to stop: its current run stops at the next step and saves last.pt, the
    rest stays queued. Returns the runner's pid, None when no runner is live.

    The stop goes to the queue folder's control file, which the current run polls with its own:
    whichever run is current when it is read, even one starting at that moment, is the one that
    stops. A stop sent to the run folder instead (`tui-trainer stop RUN_DIR`) stops that run only,
    and the queue goes on with the next."""
    pid = runner_pid(runs_dir)
    if pid is not None:
        send_command(Path(runs_dir) / QUEUE_DIR, "stop")
    return pid


def start_runner(runs_dir: Path | str, *, data: str | None = None, device: str = "auto",
                 as_json: bool = False) -> int:
    """Start `tui-trainer queue run` detached (it outlives the app and the terminal), writing to
    `<runs>/queue/runner.log`; its pid. QueueBusy when a runner is live already."""
    from ..detached import start_detached

    runs_dir = Path(runs_dir).resolve()
    if (pid := runner_pid(runs_dir)) is not None:
        raise QueueBusy(pid, runs_dir / QUEUE_DIR)
    args = ["queue", "run", "--runs", str(runs_dir), "--device", device]
    if data:
        args += ["--data", locations.canonical_data(data)]
    if as_json:
        args.append("--json")
    return start_detached(args, runs_dir / QUEUE_DIR / LOG_FILE)
