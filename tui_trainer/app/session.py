"""The app's run session: one run being watched, whatever feeds it.

A session is fed engine events on the UI thread (`record`), from either source: the in-process
Trainer running in a thread worker, or a follower worker tailing the run folder's events.jsonl
that another process writes. Screens draw from the session, never from the source, so a
training screen mounted late, or re-entered, replays the whole history.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from textual.message import Message

from ..control import RunControl, send_command
from ..events import (
    BatchProgress,
    BudgetPlanned,
    CheckpointSaved,
    DataProgress,
    EpochEnded,
    Event,
    Notice,
    RunFailed,
    RunFinished,
    RunPaused,
    RunStarted,
    SystemSample,
)
from ..workspace import folder
from .messages import ProgressEvent, engine_message

# The trainer already throttles batch events to 4 a second; this guards the UI against any
# source that does not (a follower catching up on a long events.jsonl, a future engine).
MIN_PROGRESS_INTERVAL_S = 0.2
SERIES_POINTS = 300  # per-batch series kept for plotting
FOLLOW_POLL_S = 0.5
SYSTEM_SAMPLES = 120  # the system pane's sparklines: ten minutes at the trainer's rate

_ids = itertools.count(1)


class Series:
    """An (x, y) series of bounded length: past 2*limit points it keeps every other one."""

    def __init__(self, limit: int = SERIES_POINTS) -> None:
        self.limit = limit
        self.xs: list[float] = []
        self.ys: list[float] = []
        self._stride = 1
        self._count = 0

    def append(self, x: float, y: float) -> None:
        self._count += 1
        if (self._count - 1) % self._stride:
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) >= 2 * self.limit:
            self.xs, self.ys = self.xs[::2], self.ys[::2]
            self._stride *= 2

    def __len__(self) -> int:
        return len(self.xs)


def thin(xs: list[float], ys: list[float], limit: int = SERIES_POINTS) -> tuple[list[float], list[float]]:
    """At most `limit` points, evenly picked, the last one kept."""
    n = len(xs)
    if n <= limit:
        return list(xs), list(ys)
    idx = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


class RunSession:
    """One run as the app sees it. `kind`: "local" (trainer thread here), "attached" (a run
    another process trains, followed through its folder) or "replay" (fixed events, for tests)."""

    def __init__(self, kind: str, *, run_dir: Path | None = None, control: RunControl | None = None,
                 preset: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.id = next(_ids)
        self.kind = kind
        self.run_dir = Path(run_dir) if run_dir else None
        self.control = control
        self.preset = preset
        self.clock = clock
        self.events: list[Event] = []  # every event but BatchProgress, in arrival order
        self.prior: list[EpochEnded] = []  # epochs before a resume, from metrics.csv
        self.started: RunStarted | None = None
        self.progress: BatchProgress | None = None
        self.lr = Series()
        self.batch_loss = Series()
        self.batch_acc = Series()
        self.data_progress: DataProgress | None = None  # image folders decoded before the start
        self.notice: str | None = None  # what the run is doing before its start (a calibration)
        self.plan: dict | None = None  # a budget run's plan (training.budget.Plan's fields)
        self.system: deque[SystemSample] = deque(maxlen=SYSTEM_SAMPLES)  # from the training process
        self.paused = False
        self.stopping = False
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None
        self.checkpoints: dict[str, CheckpointSaved] = {}
        self.best_acc: float | None = None  # test accuracy at the best epoch
        self.best_val_acc: float | None = None  # the validation accuracy that chose it (None: the test set did)
        self.best_epoch: int | None = None
        self.version = 0  # bumps at every recorded event
        self.t_start = clock()
        self._t_end: float | None = None
        self.worker = None  # the Textual worker feeding this session
        self.in_group = False  # a member of a seed group trained here: its worker trains the next one too
        self.thread: threading.Thread | None = None

    # --- state ---------------------------------------------------------------------------------

    @property
    def epochs(self) -> list[EpochEnded]:
        return self.prior + [e for e in self.events if isinstance(e, EpochEnded)]

    @property
    def live(self) -> bool:
        return self.finished is None and self.failed is None

    @property
    def planned_epochs(self) -> int | None:
        if self.started is None:
            return None
        return int(self.started.config.get("run", {}).get("epochs", 0)) or None

    @property
    def name(self) -> str:
        return self.run_dir.name if self.run_dir else (self.preset or "run")

    def state(self) -> str:
        if self.failed is not None:
            return "failed"
        if self.finished is not None:
            return self.finished.state or ("stopped" if self.finished.stopped else "finished")
        if self.stopping:
            return "stopping"
        if self.paused:
            return "paused"
        if self.started is None:
            return "starting"
        return "training"

    def record(self, event: Event, prior: list[EpochEnded] | None = None) -> None:
        """Take one event (UI thread)."""
        self.version += 1
        if isinstance(event, BatchProgress):
            self.progress = event
            x = event.epoch - 1 + event.step / max(event.steps_per_epoch, 1)
            self.lr.append(x, event.lr)
            self.batch_loss.append(x, event.loss)
            if event.train_acc is not None:
                self.batch_acc.append(x, event.train_acc)
            return
        if isinstance(event, SystemSample):
            self.system.append(event)
            return
        if isinstance(event, DataProgress):
            self.data_progress = event
            return
        if isinstance(event, Notice):
            self.notice = event.text
            return
        if isinstance(event, BudgetPlanned):
            self.plan = event.plan
        self.events.append(event)
        if isinstance(event, RunStarted):
            self.started = event
            self.run_dir = Path(event.run_dir)
            self.prior = list(prior or [])
            self.progress = None
            for e in self.prior:
                self._note_best(e)
        elif isinstance(event, EpochEnded):
            self._note_best(event)
            self.lr.append(float(event.epoch), event.lr)
            if self.progress is not None and self.progress.epoch == event.epoch:
                self.progress = None
        elif isinstance(event, CheckpointSaved):
            self.checkpoints[event.kind] = event
        elif isinstance(event, RunPaused):
            self.paused = event.paused
        elif isinstance(event, RunFinished):
            self.finished = event
            self._t_end = self.clock()
            if event.run_dir:
                self.run_dir = Path(event.run_dir)
        elif isinstance(event, RunFailed):
            self.failed = event
            self._t_end = self.clock()
            if event.run_dir:
                self.run_dir = Path(event.run_dir)

    def _note_best(self, e: EpochEnded) -> None:
        # The engine's own verdict, which honours run.best_after_epoch: what best.pt holds.
        if e.is_best:
            self.best_acc, self.best_val_acc, self.best_epoch = e.test_acc, e.val_acc, e.epoch

    def elapsed(self) -> float:
        if self.finished is not None and self.kind != "attached":
            return self.finished.seconds
        end = self._t_end if self._t_end is not None else self.clock()
        return max(0.0, end - self.t_start)

    def done_epochs(self) -> float:
        """Epochs done so far, fractional during an epoch."""
        done = max((e.epoch for e in self.epochs), default=0)
        if self.progress is not None and self.progress.epoch > done:
            return self.progress.epoch - 1 + self.progress.step / max(self.progress.steps_per_epoch, 1)
        return float(done)

    def eta(self) -> float | None:
        """Seconds left, from the pace since this session started (a budget run: from its plan);
        None until it can tell."""
        if self.live and self.plan is not None:
            return max(0.0, self.plan["predicted_s"] - self.elapsed())
        if not self.live or self.started is None or self.planned_epochs is None:
            return None
        done = self.done_epochs() - self.started.start_epoch
        if done <= 0:
            return None
        left = self.planned_epochs - self.done_epochs()
        return max(0.0, left * self.elapsed() / done)

    # --- control -------------------------------------------------------------------------------

    def _command(self, command: str) -> None:
        if self.control is not None:
            {"stop": self.control.request_stop, "pause": self.control.pause,
             "resume": self.control.resume}[command]()
        elif self.kind == "attached" and self.run_dir is not None:
            send_command(self.run_dir, command)

    def pause(self) -> None:
        if self.live:
            self._command("pause")

    def resume(self) -> None:
        if self.live:
            self._command("resume")

    def stop(self) -> None:
        if self.live:
            self.stopping = True
            self._command("stop")

    # --- worker side ---------------------------------------------------------------------------

    def make_sink(self, post: Callable[[Message], object]) -> Callable[[Event], None]:
        """The engine's sink for this session: posts messages, never waits on the UI (any thread)."""
        last_progress = [0.0]

        def sink(event: Event) -> None:
            if isinstance(event, BatchProgress):
                now = time.monotonic()
                if now - last_progress[0] < MIN_PROGRESS_INTERVAL_S:
                    return
                last_progress[0] = now
                post(ProgressEvent(self.id, event))
                return
            prior = None
            if isinstance(event, RunStarted) and event.start_epoch > 0:
                prior = [m for m in folder.read_metrics(Path(event.run_dir)) if m.epoch <= event.start_epoch]
            post(engine_message(self.id, event, prior))

        return sink


def follow_run(run_dir: Path, sink: Callable[[Event], None], cancelled: Callable[[], bool],
               poll_s: float = FOLLOW_POLL_S) -> None:
    """Tail `run_dir`/events.jsonl written by another process, from its latest RunStarted, until
    RunFinished or RunFailed (thread worker). A process that dies without either is reported."""
    events, offset = folder.read_events(run_dir, 0)
    starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
    pending = events[starts[-1]:] if starts else []
    seen_start = bool(starts)
    quiet_polls = 0
    while True:
        for event in pending:
            sink(event)
            if isinstance(event, (RunFinished, RunFailed)):
                return
        if cancelled():
            return
        time.sleep(poll_s)
        new, offset = folder.read_events(run_dir, offset)
        if not seen_start:  # attached before the run wrote its RunStarted
            starts = [i for i, e in enumerate(new) if isinstance(e, RunStarted)]
            new = new[starts[0]:] if starts else []
            seen_start = bool(starts)
        pending = new
        if new:
            quiet_polls = 0
        elif folder.live_pid(run_dir) is None:
            quiet_polls += 1  # live.json goes just after the last event is written: allow for a late read
            if quiet_polls >= 3:
                sink(RunFailed(f"the process training {Path(run_dir).name} ended without finishing "
                               "(killed?); resume it from last.pt", str(run_dir)))
                return


def live_started_at(run_dir: Path) -> float | None:
    """When the process training `run_dir` started (time.time()), from its live.json."""
    try:
        return float(json.loads((Path(run_dir) / folder.LIVE).read_text())["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
