"""The queue's runner: the queued runs trained one after another, each an ordinary run of the runs
folder. The queue itself (its file, its lock, who runs it) is workspace/queue.py; this is the part
that trains, so it imports the trainer (torch) only once there is something to train."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

from .. import presets
from ..config import ConfigError
from ..control import ChildControl, RunControl
from ..events import Notice, RunFailed, RunFinished, Sink
from ..workspace.queue import Done, Queue, QueueItem


@dataclass
class QueueSummary:
    done: list[Done]  # what this runner ran, in order
    stopped: bool  # a stop was asked for: what is left stays queued
    left: int  # items still queued


Output = Callable[[QueueItem], ContextManager[Sink]]


def _silent(item: QueueItem) -> ContextManager[Sink]:  # noqa: ARG001
    return contextlib.nullcontext(lambda event: None)


def run_queue(runs_dir: Path | str, *, data: str | None = None, device: str = "auto",
              control: RunControl | None = None, output: Output | None = None,
              claimed: Callable[[int], None] | None = None) -> QueueSummary:
    """Train the queued items one after another until the queue is empty or a stop comes.

    Each item is an ordinary run in `runs_dir`, trained on its own data or `data`. `output(item)`
    gives a context manager around each item's run yielding its event sink (a train reporter is
    one). A failed item is recorded and the next one runs; a stop (`control.request_stop()`, or
    request_stop from another process) stops the current run, which saves last.pt, and leaves the
    rest queued. QueueBusy when another runner is live for this folder; else `claimed(n)` is told
    how many runs are queued, once the queue is this runner's."""
    queue = Queue(runs_dir)
    control = control or RunControl()
    output = output or _silent
    queue.claim()
    if claimed is not None:
        claimed(len(queue.items()))
    ran: list[Done] = []
    try:
        control.watch_file(queue.folder)
        # A fresh read of the control file: a stop that came as the last run ended is for the queue.
        while not (control.poll_file(force=True) or control.stop_requested) and (item := queue.pop_next()) is not None:
            ran.append(_run_item(queue, item, data, device, control, output))
            queue.record_done(ran[-1])
    finally:
        queue.release()
    return QueueSummary(ran, control.stop_requested, len(queue.items()))


def _run_item(queue: Queue, item: QueueItem, data: str | None, device: str, control: RunControl,
              output: Output) -> Done:
    from . import seed_group
    from .trainer import Trainer  # torch: only once there is something to train

    started = time.time()
    with output(item) as sink:
        try:
            cfg, name = presets.resolve(item.preset, item.sets, item.epochs)  # its preset file may have changed since
        except ConfigError as e:
            result: RunFinished | RunFailed = RunFailed(str(e), None)
            sink(result)
            return Done.of_run(item, result, started)

        def train(member: seed_group.Member, k: int) -> RunFinished | RunFailed:
            recorded = False

            def report(event) -> None:  # noqa: ANN001
                nonlocal recorded
                if not recorded and trainer.run_dir is not None:  # at its first event: a follower can attach at once
                    recorded = True
                    queue.record_run_dir(trainer.run_dir)
                sink(event)

            trainer = Trainer(member.cfg, data=group.data, runs_dir=queue.runs_dir, preset=name, device_name=device,
                              sink=report, control=ChildControl(control),
                              seed_group=(group.id, group.seeds) if seed_group.is_group(cfg) else None,
                              started_at=started if k == 0 else time.time())  # a budget: from its turn
            return trainer.run()

        # A queued seed group (run.seeds > 1) is one item: its members one after another.
        try:
            group = seed_group.new_group(cfg, name, queue.runs_dir, item.data or data)
        except ValueError as e:
            result = RunFailed(str(e), None)
            sink(result)
            return Done.of_run(item, result, started)
        result = seed_group.train_group(group, train, lambda text: sink(Notice(text)) if seed_group.is_group(cfg) else None,
                                        lambda: control.stop_requested)[-1]
    return Done.of_run(item, result, started)
