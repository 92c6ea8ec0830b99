"""What the run-queue dialog shows of one read of the queue: the runner's line, a table row per
run in the order they will run, and the last few done."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text

from ... import presets
from ...config import ConfigError
from ...text import shown
from ...workspace.queue import Queue, QueueError, QueueItem, QueueState, runner_pid
from ...workspace.summary import RunSummary, read_summary

RECENT = 5  # done items shown, newest first: a short terminal cuts the oldest
STATE_STYLES = {"finished": "green", "stopped": "yellow", "stopped early": "green", "pruned": "yellow",
                "failed": "red", "interrupted": "red"}


@dataclass
class QueueView:
    """One read of the queue, made in the reading thread so that drawing it reads no file."""
    state: QueueState | None  # None: queue.json is unreadable (see problem)
    runner: int | None = None  # the runner's pid; read on its own when the queue file is unreadable
    progress: RunSummary | None = None  # the running item's summary.json, once its run has a folder
    epochs: dict[int, int | None] = field(default_factory=dict)  # item id -> its run's epochs (None: bad preset)
    problem: str | None = None


def read_view(runs: Path, epochs_cache: dict[tuple, int | None]) -> QueueView:
    """The queue now, the running run's progress, and each queued item's epochs."""
    try:
        state = Queue(runs).snapshot()
    except (QueueError, OSError) as e:
        return QueueView(None, runner_pid(runs), problem=str(e))
    progress = None
    if state.running is not None and state.running.run_dir:
        with contextlib.suppress(ValueError, OSError):  # a summary being replaced: the next read has it
            progress = read_summary(Path(state.running.run_dir))
    items = [state.running.item, *state.items] if state.running is not None else state.items
    epochs = {item.id: item_epochs(item, epochs_cache) for item in items}
    return QueueView(state, state.runner, progress, epochs)


def item_epochs(item: QueueItem, cache: dict[tuple, int | None]) -> int | None:
    """How many epochs the item will train: its --epochs, else its preset's (None: the preset fails
    to resolve, which the runner will record as a failed item). Cached: presets rarely change."""
    if item.epochs is not None:
        return item.epochs
    key = (item.preset, tuple(item.sets))
    if key not in cache:
        try:
            cache[key] = presets.resolve(item.preset, item.sets)[0].run.epochs
        except (ConfigError, OSError):
            cache[key] = None
    return cache[key]


def runner_line(view: QueueView) -> Text:
    """'not running', or 'running (pid N): #ID preset ... — run folder NAME, epoch e/E, best x%'."""
    if view.runner is None:
        return Text.assemble(("runner: ", "bold"), ("not running", "dim"))
    line = Text.assemble(("runner: ", "bold"), (f"running (pid {view.runner})", "bold cyan"))
    if view.state is None:
        return line
    running = view.state.running
    if running is None:
        return line.append(", between runs")
    line.append(f": #{running.item.id} {short_run(running.item)} — ")
    if not running.run_dir:
        return line.append("starting")
    line.append(f"run folder {shown(Path(running.run_dir).name)}")
    p = view.progress
    if p is not None:
        line.append(f", epoch {p.epochs_done}/{p.epochs_total if p.epochs_total is not None else '?'}")
        if p.best_acc is not None:
            line.append(", best ").append(f"{p.best_acc:.2%}", "bold green")
    return line


def short_run(item: QueueItem) -> str:
    """The preset (a file by its name: the stored path is absolute), its --set items and --epochs."""
    preset = Path(item.preset).name if os.sep in item.preset else item.preset
    epochs = [f"--epochs {item.epochs}"] if item.epochs is not None else []
    return shown("  ".join([preset, *item.sets, *epochs]))


def table_rows(view: QueueView) -> list[tuple[str, tuple]]:
    """(row key, cells): the running item first, then the queued ones in the order they will run."""
    state = view.state
    if state is None:
        return []
    rows = []
    if state.running is not None:
        item, p = state.running.item, view.progress
        total = p.epochs_total if p is not None and p.epochs_total is not None else view.epochs.get(item.id)
        epochs = f"{p.epochs_done if p is not None else 0}/{total if total is not None else '?'}"
        best = f"{p.best_acc:.2%}" if p is not None and p.best_acc is not None else ""
        rows.append((str(item.id), (Text("▶", "bold cyan"), f"#{item.id}", Text(short_run(item)), epochs, best)))
    seen = {int(key) for key, _ in rows}
    for position, item in enumerate(state.items, 1):
        if item.id in seen:  # a hand-edited queue.json: one row per id, as the row keys need
            continue
        seen.add(item.id)
        epochs = view.epochs.get(item.id)
        rows.append((str(item.id), (str(position), f"#{item.id}", Text(short_run(item)),
                                    Text("?", "red") if epochs is None else str(epochs), "")))
    return rows


def done_lines(view: QueueView) -> Text:
    done = view.state.done if view.state is not None else []
    if not done:
        return Text("done: none yet", "dim")
    recent = done[-RECENT:][::-1]
    text = Text(f"done, newest first ({len(recent)} of {len(done)}):" if len(done) > RECENT else
                "done, newest first:", "bold")
    for d in recent:
        text.append(f"\n  #{d.item.id}  ").append(d.state, STATE_STYLES.get(d.state, ""))
        if d.best_acc is not None:
            text.append(f"  best {d.best_acc:.2%}")
        if d.final_acc is not None and d.state != "stopped":
            text.append(f"  final {d.final_acc:.2%}")
        text.append(f"  {shown(Path(d.run_dir).name) if d.run_dir else short_run(d.item)}", "dim")
    return text
