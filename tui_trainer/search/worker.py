"""A search worker: asks the study for a trial, trains it as an ordinary run, tells the result.

Any number of workers, on any number of machines, share a study through its storage; Optuna
hands each one a different trial (and each enqueued grid point to exactly one). A trial's run
folder is tagged with the study and trial number, so the Runs screen compares trials like any run.
Optuna's journal storage has no heartbeats, so each trial records its worker's host and pid, and
every worker fails the RUNNING trials of this host whose process is gone before it asks for more.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..events import EpochEnded, RunFailed, RunFinished, RunStarted
from ..training.stopping import PRUNED, Verdict, split_name
from ..workspace import folder
from .study_file import StudySpec
from .trials import OVER_BUDGET, RUN_DIRS, TEST_ACC, VALUES

STOP_FLAG = "stop"  # in the study folder: no worker starts another trial while it is there
STOP_ATTR = "stop_requested"  # the same, as a study attribute: for workers on other machines


def make_sampler(spec: StudySpec, worker: int):  # noqa: ANN201
    import optuna

    # A seed given in the file: reproducible on one machine, one apart per worker (one seed for all
    # would make them draw the same points). None: each worker and each run draws its own.
    seed = None if spec.seed is None else spec.seed + worker
    if spec.sampler == "tpe":
        # constant_liar: a worker treats trials still running elsewhere as bad, not as absent, so
        # parallel workers do not all sample around the same best point.
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, spec.budget // 3)),
                                          constant_liar=True)
    # grid: every point is enqueued when the study is created; the sampler never picks one
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(spec: StudySpec):  # noqa: ANN201
    import optuna

    if spec.pruner == "median":
        # Optuna counts steps from 0 and ours are epochs from 1: "warm up 1 epoch" is steps < 2.
        return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner_startup_trials,
                                           n_warmup_steps=spec.pruner_warmup_epochs + 1)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=spec.base.run.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def budget_spent(study, spec: StudySpec, started_at: float) -> bool:  # noqa: ANN001
    """`started_at`: when this worker began, so a study resumed later gets its timeout anew."""
    from optuna.trial import TrialState

    if spec.timeout_minutes is not None and time.time() > started_at + spec.timeout_minutes * 60:
        return True
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    return len(trials) >= spec.budget


def process_alive(pid: int, started: float | None) -> bool:
    """Whether `pid` is still the process that recorded itself (a reused pid is not)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False


def fail_dead_trials(study) -> list[int]:  # noqa: ANN001
    """Mark failed the RUNNING trials of this host whose worker died (SIGKILL, a crash, a reboot)."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") != host or pid is None or process_alive(pid, t.user_attrs.get("pid_started")):
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, "message", f"its worker (pid {pid}) died")
        except RuntimeError:
            continue  # another worker has just failed it
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        failed.append(t.number)
    return failed


def pruning_rule(trial, seed_index: int = 0, earlier: list[list[EpochEnded]] = (),  # noqa: ANN001, ANN201
                 epochs: int = 0):
    """Report each evaluated epoch's chosen accuracy (validation's, unless the study holds nothing
    out); the study's pruner says whether to go on. A trial of several seeds reports, for its seed
    number `seed_index` (0-based), the mean over the seeds that reached this epoch (the `earlier`
    seeds' metrics and this one), at step seed_index * `epochs` + epoch: Optuna takes one value a
    step, and the pruner then compares trials seed by seed, so a bad trial stops after its first."""

    def rule(history: list[EpochEnded]) -> Verdict | None:
        last = history[-1]
        same = [m.chosen_acc for runs in earlier for m in runs if m.epoch == last.epoch and m.chosen_acc is not None]
        value = (sum(same) + last.chosen_acc) / (len(same) + 1)
        trial.report(value, seed_index * epochs + last.epoch)
        if trial.should_prune():
            where = f"epoch {last.epoch}" + (f" of seed {seed_index + 1}" if seed_index or earlier else "")
            mean = "mean " if same else ""
            return Verdict(PRUNED, f"pruned at {where}: {mean}{split_name(last)} accuracy {value:.2%} is below "
                                   f"what earlier trials had by then")
        return None

    return rule


class Worker:
    """One worker process's loop over trials, until the budget is spent or a stop is asked for."""

    def __init__(self, spec: StudySpec, storage, folder: Path, *, runs: Path, data: str | None,  # noqa: ANN001
                 device: str, index: int = 0, control=None, say=print, lead: int | None = None) -> None:  # noqa: ANN001
        from ..control import RunControl

        self.spec, self.storage, self.folder, self.runs = spec, storage, Path(folder), Path(runs)
        self.data, self.device, self.index = data, device, index
        self.control = control or RunControl()  # a signal to this process stops the trial it trains
        self.say = say
        self.lead = lead  # the lead's pid: a worker whose lead is gone (SIGKILL) stops after its trial
        self._datasets: dict[tuple, object] = {}

    def stop_asked(self, study=None) -> bool:  # noqa: ANN001
        if (self.folder / STOP_FLAG).exists() or self.control.stop_requested:
            return True
        if self.lead is not None and os.getppid() != self.lead:
            return True
        # A stop asked on another machine reaches this one through the storage.
        return study is not None and bool(study.user_attrs.get(STOP_ATTR))

    def run(self) -> int:
        """Train trials until none is left; returns how many this worker trained."""
        import optuna
        from optuna.trial import TrialState

        study = optuna.load_study(study_name=self.spec.name, storage=self.storage,
                                  sampler=make_sampler(self.spec, self.index), pruner=make_pruner(self.spec))
        started_at = time.time()
        done = 0
        while not self.stop_asked(study):
            for number in fail_dead_trials(study):
                self.say(f"trial {number}: its worker died; marked failed")
            if budget_spent(study, self.spec, started_at):
                break
            trial = study.ask()
            if trial.number >= self.spec.budget:  # another worker took the last trial between check and ask
                study._storage.set_trial_system_attr(trial._trial_id, OVER_BUDGET, True)
                study.tell(trial, state=TrialState.FAIL)
                break
            self.train_trial(study, trial)
            done += 1
        return done

    def train_trial(self, study, trial) -> None:  # noqa: ANN001
        from optuna.trial import TrialState

        from ..control import ChildControl
        from ..data import DataError
        from ..training.trainer import Trainer

        spec = self.spec
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("pid_started", _own_start_time())
        params = {p.key: self._suggest(trial, p) for p in spec.space}
        cfg = spec.config_for(params)
        self.say(f"trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in spec.decoded(params).items()))

        def sink(event) -> None:  # noqa: ANN001
            if isinstance(event, RunStarted):
                trial.set_user_attr("run_dir", event.run_dir)
            elif isinstance(event, EpochEnded) and event.test_acc is not None:
                held = f"validation {event.val_acc:.2%}, " if event.val_acc is not None else ""
                self.say(f"trial {trial.number}: epoch {event.epoch} {held}test {event.test_acc:.2%}")

        try:
            dataset = self._dataset(cfg)
        except DataError as e:  # every later trial would fail the same way: the worker stops
            trial.set_user_attr("message", str(e))
            study.tell(trial, state=TrialState.FAIL)
            raise
        results, earlier, run_dirs = [], [], []
        for j in range(spec.seeds):  # a noisy objective: the trial is the mean of its seeds, one after another
            member = cfg.copy()
            member.set("run.seed", cfg.run.seed + j)
            rules = [pruning_rule(trial, j, earlier, member.run.epochs)] if spec.pruner != "none" else []
            # The trial's own control: `tui-trainer stop TRIAL_DIR` stops this trial, not the worker.
            trainer = Trainer(member, data=self.data, runs_dir=self.runs, preset=spec.preset, device_name=self.device,
                              sink=sink, control=ChildControl(self.control), dataset=dataset, stop_rules=rules,
                              study=(spec.name, trial.number), started_at=time.time())  # a budget: from the run
            result = trainer.run()
            if trainer.run_dir is not None:
                run_dirs.append(str(trainer.run_dir))
                trial.set_user_attr("run_dir", run_dirs[0])
                trial.set_user_attr(RUN_DIRS, run_dirs)
            if isinstance(result, RunFailed) or result.stopped or result.state == PRUNED:
                break
            results.append(result)
            earlier.append(folder.read_metrics(trainer.run_dir))
        if isinstance(result, RunFailed):
            trial.set_user_attr("message", result.message)
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            self.say(f"trial {trial.number}: failed: {result.message}")
        elif result.stopped:
            trial.set_user_attr("message", f"stopped by the user after {result.epochs} epochs; last.pt is kept")
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        elif result.state == PRUNED:
            trial.set_user_attr("message", result.ended)
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            self.say(f"trial {trial.number}: {result.ended}")
        else:
            scores = [objective_value(r, spec.objective) for r in results]
            if any(v is None for v, _ in scores):
                trial.set_user_attr("message", "no score to judge it by")
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            else:
                if result.ended:
                    trial.set_user_attr("message", result.ended)
                values, tests = [v for v, _ in scores], [t for _, t in scores if t is not None]
                value = sum(values) / len(values)
                test = sum(tests) / len(tests) if tests else None
                # The test figure rides along to be shown beside the value; it never ranks a trial.
                trial.set_user_attr(TEST_ACC, test)
                if spec.seeds > 1:
                    trial.set_user_attr(VALUES, values)
                study.tell(trial, value, skip_if_finished=True)  # failed meanwhile as dead: keep that
                on = " on validation" if spec.validation else ""
                seeds = f" (mean of {len(values)} seeds)" if len(values) > 1 else ""
                self.say(f"trial {trial.number}: {spec.objective}{on} {value:.2%}{seeds} (test {_pct(test)})")

    @staticmethod
    def _suggest(trial, p):  # noqa: ANN001, ANN205 - the value as Optuna stores it
        if p.choices:
            return trial.suggest_categorical(p.key, p.encoded_choices())
        if p.is_int:
            return trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        return trial.suggest_float(p.key, p.low, p.high, step=p.step, log=p.log)

    def _dataset(self, cfg):  # noqa: ANN001, ANN202
        """Data loaded once per worker, for every trial with the same data settings."""
        from .. import locations
        from ..data import load_dataset
        from ..data.split import check

        key = (cfg.data.dataset, cfg.data.cifar100_labels, cfg.data.image_size)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(self.data or locations.default_data(), cfg.data)
        # Each trial draws its split (the same images) from this; one that cannot be drawn (more than
        # the data holds) fails the worker here, not in every trial in turn.
        check(self._datasets[key], cfg.data)
        return self._datasets[key]


def objective_value(result: RunFinished, objective: str) -> tuple[float | None, float | None]:
    """A finished trial's objective (validation's figure when it held images out, else the test's)
    and the test accuracy that goes beside it."""
    test = result.final_acc if objective == "final_acc" else result.best_acc
    held = result.val_acc if objective == "final_acc" else result.best_val_acc
    held_out = result.val_acc is not None or result.best_val_acc is not None
    return (held if held_out else test), test


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _own_start_time() -> float:
    import psutil

    return psutil.Process().create_time()


def worker_threads(workers: int) -> int:
    """CPU threads for each of `workers` local workers, so that they do not fight over the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
