"""Run folders written the way a finished run leaves them, without training: tests and the
runs-workspace benchmark build their runs folders with this (as data/writers.py does for data)."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import Config
from ..events import EpochEnded, RunFinished, RunStarted, to_record
from . import folder
from .listing import flatten
from .notes import Notes, write_notes
from .summary import RunSummary, write_summary


def write_run_folder(root: Path, name: str, cfg: Config, test_accs: list[float], *, preset: str = "custom",
                     data: str = "synthetic", state: str = "finished", final_acc: float | None = None,
                     epoch_seconds: float = 12.0, notes: Notes | None = None,
                     checkpoint: bytes | None = None, summary: bool = True) -> Path:
    """`root/name` with config.toml, one metrics.csv row and event per accuracy in `test_accs`,
    events.jsonl, summary.json (unless `summary` is False: a run from before it existed), and
    best.pt/last.pt holding `checkpoint` when given."""
    run_dir = Path(root) / name
    (run_dir / "checkpoints").mkdir(parents=True)
    folder.write_config(run_dir, cfg)
    best = max(range(len(test_accs)), key=lambda i: test_accs[i]) if test_accs else None
    epochs = [EpochEnded(i + 1, 2.0 / (i + 1), acc * 0.95, 1.0 - acc, acc, cfg.optimizer.lr, epoch_seconds, 1900.0,
                         i == best) for i, acc in enumerate(test_accs)]
    for e in epochs:
        folder.append_metrics(run_dir, e)
    best_acc = test_accs[best] if best is not None else None
    final = final_acc if final_acc is not None else (test_accs[-1] if test_accs else None)
    events = [RunStarted(str(run_dir), cfg.to_dict(), "cpu (2 threads)", "fp32", 100_000, 10, 0,
                         [str(c) for c in range(10)], 0.0, data), *epochs]
    if state in ("finished", "stopped"):
        events.append(RunFinished(str(run_dir), best_acc, best + 1 if best is not None else None, len(epochs),
                                  epoch_seconds * len(epochs), final, state == "stopped"))
    (run_dir / folder.EVENTS).write_text("".join(json.dumps(to_record(e)) + "\n" for e in events))
    if summary:
        write_summary(run_dir, RunSummary(
            preset=preset, data=data, device="cpu (2 threads)", precision="fp32", parameters=100_000, state=state,
            epochs_done=len(epochs), epochs_total=cfg.run.epochs, best_acc=best_acc,
            best_epoch=best + 1 if best is not None else None, final_acc=final, final_tta=cfg.run.tta,
            train_seconds=epoch_seconds * len(epochs), images_per_s=1900.0, config=flatten(cfg.to_dict())))
    if notes is not None:
        write_notes(run_dir, notes)
    if checkpoint is not None:
        for kind in ("best.pt", "last.pt"):
            (run_dir / "checkpoints" / kind).write_bytes(checkpoint)
    return run_dir
