"""Finishes a run decides for itself, after an evaluated epoch: early stopping, a search's pruner.

A rule looks at the chosen accuracies so far (validation's when the run holds images out, else the
test's: EpochEnded.chosen_acc) (from metrics.csv, so a resumed run judges as the
uninterrupted one would) and returns a Verdict to end the run there, or None to go on. Such an
end is a normal finish, not an interruption: exit 0, best.pt and last.pt kept, no resume hint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..events import EpochEnded

STOPPED_EARLY, PRUNED = "stopped early", "pruned"  # the summary states they leave


@dataclass(frozen=True)
class Verdict:
    state: str  # STOPPED_EARLY or PRUNED
    message: str


StopRule = Callable[[list[EpochEnded]], "Verdict | None"]


def early_stopping(patience: int, min_delta: float) -> StopRule:
    """Stop when `patience` epochs have passed without a gain of at least `min_delta` in the chosen
    accuracy over the best so far (Lightning's EarlyStopping on a maximized metric)."""

    def rule(history: list[EpochEnded]) -> Verdict | None:
        scored = [m for m in history if m.chosen_acc is not None]
        if not scored:
            return None
        reference = scored[0]  # the last epoch that improved by min_delta
        for m in scored[1:]:
            if m.chosen_acc - min_delta > reference.chosen_acc:
                reference = m
        if history[-1].epoch - reference.epoch < patience:
            return None
        best = max(scored, key=lambda m: m.chosen_acc)
        return Verdict(STOPPED_EARLY, f"stopped early at epoch {history[-1].epoch} "
                                      f"(best {'validation ' if best.val_acc is not None else ''}"
                                      f"{best.chosen_acc:.2%} at epoch {best.epoch})")

    return rule


def split_name(m: EpochEnded) -> str:
    """Which split chose, in a message."""
    return "validation" if m.val_acc is not None else "test"
