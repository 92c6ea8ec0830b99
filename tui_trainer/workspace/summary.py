"""summary.json: how a run stands, in one small file that listings read instead of its logs.

The trainer rewrites it atomically at the start, after every epoch and at the end, so a reader
never sees half of it. Listings (the runs table, `tui-trainer runs`, a search's trials) read only
this, config.toml and notes.json; runs written before the file existed are summarized from their
events.jsonl and metrics.csv instead. No torch here: a listing must stay fast.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..text import clip

SUMMARY = "summary.json"
# "live" is what a running trainer writes; the listing turns a live summary whose process is gone
# into "failed". "stopped early" and "pruned" are finishes decided by the run itself.
STATES = ("live", "finished", "stopped", "stopped early", "pruned", "failed")


@dataclass
class RunSummary:
    preset: str = "custom"
    data: str | None = None  # the data source as a later command can reuse it ("synthetic" or a path)
    device: str | None = None
    precision: str | None = None
    parameters: int | None = None
    state: str = "live"
    message: str | None = None  # why it failed or stopped
    epochs_done: int = 0
    epochs_total: int | None = None
    best_acc: float | None = None
    best_epoch: int | None = None
    final_acc: float | None = None
    final_tta: bool = False  # final_acc is with test-time augmentation
    # With a validation split (data.validation), validation chose best_epoch and best_acc is the test
    # accuracy there; without one (0 images), the test set chose and these stay None.
    validation: int = 0  # images held out to choose on
    val_acc: float | None = None  # final, as final_acc (with TTA when final_tta)
    best_val_acc: float | None = None
    best_val_epoch: int | None = None
    train_seconds: float = 0.0
    images_per_s: float | None = None
    study: str | None = None
    trial: int | None = None
    group: str | None = None  # a seed group's id (`train --seeds N`): its members share it
    group_seeds: list[int] | None = None  # the seeds the group trains, one run folder each
    started_at: float | None = None  # time.time()
    updated_at: float | None = None
    config: dict[str, Any] | None = None  # config.toml's settings, dotted, for listings to read fast

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RunSummary:
        """Known keys only: a newer version's extra fields are ignored, missing ones take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    atomic_write(Path(run_dir) / SUMMARY, lambda f: f.write(json.dumps(summary.to_json(), indent=1).encode()))


def read_summary(run_dir: Path) -> RunSummary | None:
    """The run's summary, None when it has none; ValueError when the file is there but unreadable."""
    path = Path(run_dir) / SUMMARY
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{SUMMARY} unreadable: {e}") from None
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        return RunSummary.from_json(raw)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{SUMMARY} is not valid JSON ({clip(str(e), 80)})") from None
