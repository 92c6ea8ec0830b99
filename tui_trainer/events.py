"""What the trainer reports, as plain dataclasses.

The trainer hands each event to a sink callable and knows nothing of who listens: the CLI prints
them, the app wraps them in Textual messages, `metrics.csv` stores the epoch ones. Keep every
field a plain value so events can be serialized as JSON lines and replayed from a run folder.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    config: dict[str, Any]
    device: str
    precision: str
    parameters: int
    steps_per_epoch: int
    start_epoch: int  # 0 for a new run, the next epoch for a resumed one
    classes: list[str]
    started_at: float = 0.0  # wall-clock time.time(), so a follower in another process can show elapsed time
    data: str = ""  # the data source it trains on ("synthetic" or a path)
    validation: dict | None = None  # its held-out split (data/split.py's record); None: the test set chooses


@dataclass(frozen=True)
class DataProgress:
    """Image folders being decoded, the first time only (later runs read the cache)."""
    done: int
    total: int


@dataclass(frozen=True)
class Notice:
    """A word for the user while a run gets ready (a calibration under way)."""
    text: str


@dataclass(frozen=True)
class BudgetPlanned:
    """What a run with a time budget will train (training.budget.Plan's fields), and that in words."""
    plan: dict[str, Any]
    text: str


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based, like the epoch table
    step: int  # steps done in this epoch
    steps_per_epoch: int
    loss: float
    lr: float
    images_per_s: float
    train_acc: float | None = None  # running, MixUp-weighted, like the epoch's


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float | None  # None on epochs skipped by run.eval_every
    test_acc: float | None
    lr: float
    seconds: float
    images_per_s: float
    is_best: bool
    val_loss: float | None = None  # None without a validation split (data.validation = 0)
    val_acc: float | None = None
    train_seconds: float | None = None  # `seconds` less the evaluation: training alone

    @property
    def chosen_acc(self) -> float | None:
        """The accuracy every choice reads (best.pt, early stopping, a pruner, a search): validation's
        when the run holds images out, else test's (as the seed notebook chose)."""
        return self.val_acc if self.val_acc is not None else self.test_acc


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    kind: str  # "best" or "last"


@dataclass(frozen=True)
class RunPaused:
    epoch: int
    paused: bool  # False when resumed


@dataclass(frozen=True)
class RunFinished:
    run_dir: str
    best_acc: float | None
    best_epoch: int | None
    epochs: int
    seconds: float
    final_acc: float | None
    stopped: bool  # True when the user stopped it (resumable), not when it chose to end
    ended: str | None = None  # the run ended itself: "stopped early at epoch 7 (best ...)", "pruned at ..."
    state: str = ""  # the summary's state: finished, stopped, stopped early, pruned
    best_val_acc: float | None = None  # validation accuracy at best_epoch, which it chose (None: no split)
    val_acc: float | None = None  # the final validation accuracy, as final_acc is the test's


@dataclass(frozen=True)
class SystemSample:
    """The machine while the run trains, every few seconds, so a viewer in another process or a
    browser shows the same system pane."""
    cpu_percent: float
    ram_used: int  # bytes
    ram_total: int
    rss: int  # the training process
    gpus: list[dict[str, Any]]  # index, name, util (%), mem_used, mem_total (bytes), temp (°C)


@dataclass(frozen=True)
class RunFailed:
    message: str
    run_dir: str | None


Event = (RunStarted | DataProgress | Notice | BudgetPlanned | BatchProgress | EpochEnded | CheckpointSaved | RunPaused
         | SystemSample | RunFinished | RunFailed)
Sink = Callable[[Event], None]

EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in
                                (RunStarted, DataProgress, Notice, BudgetPlanned, BatchProgress, EpochEnded,
                                 CheckpointSaved, RunPaused, SystemSample, RunFinished, RunFailed)}


def to_record(event: Event) -> dict[str, Any]:
    return {"event": type(event).__name__, **dataclasses.asdict(event)}


def from_record(record: dict[str, Any]) -> Event:
    fields = dict(record)
    return EVENT_TYPES[fields.pop("event")](**fields)
