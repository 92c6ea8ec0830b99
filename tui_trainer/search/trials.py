"""A study's trials as the CLI, the Search screen and the final report show them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .study_file import StudySpec

# Optuna's state names, as a user reads them next to run states
STATE_NAMES = {"RUNNING": "running", "COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed",
               "WAITING": "waiting"}
OVER_BUDGET = "over_budget"  # a trial asked for past the budget by a worker that lost a race: not shown
TEST_ACC = "test_acc"  # a complete trial's test accuracy, shown beside its value (validation's, when held out)
VALUES = "values"  # a trial of several seeds: each seed's objective (its value is their mean)
RUN_DIRS = "run_dirs"  # every run folder of the trial (one a seed)


@dataclass
class TrialRow:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]  # config values (lists decoded)
    run_dir: str | None
    seconds: float | None
    message: str | None
    host: str | None = None
    pid: int | None = None
    test_acc: float | None = None  # beside the value; the value itself when the study holds nothing out
    values: list[float] | None = None  # each seed's, for a study of several seeds a trial
    run_dirs: list[str] | None = None  # each seed's run folder

    @property
    def spread(self) -> float | None:
        """The seeds' sample standard deviation, for a trial of several."""
        from ..workspace.groups import Interval

        return Interval.of(self.values).sd if self.values else None

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.number, "state": self.state, "value": self.value, "values": self.values,
                "run_dirs": self.run_dirs,
                "test_acc": self.test_acc,
                "params": self.params, "run_dir": self.run_dir, "seconds": self.seconds, "message": self.message,
                "host": self.host, "pid": self.pid}


@dataclass
class StudyReport:
    name: str
    rows: list[TrialRow]
    best: TrialRow | None
    counts: dict[str, int] = field(default_factory=dict)
    validation: int = 0  # images each trial held out, which ranked them; 0: the test set did

    @property
    def runner_up(self) -> TrialRow | None:
        done = sorted((r for r in self.rows if r.state == "complete" and r.value is not None), key=lambda r: -r.value)
        return done[1] if len(done) > 1 else None

    def best_vs_runner_up(self):  # noqa: ANN201 - a workspace.groups.Comparison, or None
        """Whether the best trial differs from the runner-up, when their seeds can tell (Welch's test)."""
        from ..workspace.groups import compare_values

        best, second = self.best, self.runner_up
        if best is None or second is None or not best.values or not second.values:
            return None
        return compare_values(best.values, second.values)

    def separation(self) -> str | None:
        c = self.best_vs_runner_up()
        return None if c is None else f"best vs runner-up (trial {self.runner_up.number}): {c.verdict}"

    @property
    def chosen_on(self) -> str:
        return "validation" if self.validation else "test"

    def final_json(self) -> dict[str, Any]:
        best = self.best
        return {"study": self.name, "best_value": best.value if best else None,
                "best_test_acc": best.test_acc if best else None, "chosen_on": self.chosen_on,
                "best_vs_runner_up": self.separation(),
                "best_params": best.params if best else None, "best_run_dir": best.run_dir if best else None,
                "best_trial": best.number if best else None,
                **{k: self.counts.get(k, 0) for k in ("complete", "pruned", "failed")}}


def trial_row(trial, spec: StudySpec) -> TrialRow:  # noqa: ANN001 - optuna FrozenTrial
    attrs = trial.user_attrs
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    state = STATE_NAMES.get(trial.state.name, trial.state.name.lower())
    # Optuna keeps a pruned trial's last reported score as its value: not the objective, not shown as one.
    return TrialRow(trial.number, state, trial.value if state == "complete" else None,
                    spec.decoded(trial.params), attrs.get("run_dir"), seconds, attrs.get("message"),
                    attrs.get("host"), attrs.get("pid"), attrs.get(TEST_ACC) if state == "complete" else None,
                    attrs.get(VALUES) if state == "complete" else None, attrs.get(RUN_DIRS))


def report(study, spec: StudySpec) -> StudyReport:  # noqa: ANN001 - optuna Study
    rows = [trial_row(t, spec) for t in study.get_trials(deepcopy=False) if not t.system_attrs.get(OVER_BUDGET)]
    done = [r for r in rows if r.state == "complete" and r.value is not None]
    best = max(done, key=lambda r: r.value) if done else None
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return StudyReport(spec.name, rows, best, counts, spec.validation)


def importances(study) -> dict[str, float] | None:  # noqa: ANN001
    """Optuna's parameter importances once enough trials have finished, else None."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 4:
        return None
    try:
        return get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None  # e.g. every completed trial has the same value
