"""The training loop: one config, run to the end in the calling thread, reported through a sink.

It knows nothing of any UI. Everything a listener learns comes as an event (tui_trainer/events.py), and the
same events go to the run folder's events.jsonl, so another process can follow the run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import torch

from .. import locations
from ..atomic import DiskFull, atomic_write
from ..config import Config, ConfigError
from ..control import CONTROL_FILE, RunControl
from ..data import DataError, Dataset, check_source, load_dataset
from ..data.pipeline import TrainBatches, stream_seed
from ..data.split import describe as describe_split
from ..data.split import with_validation
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
    Sink,
)
from ..models import count_parameters
from ..workspace import folder
from ..workspace.listing import flatten
from ..workspace.notes import edit_tags
from ..workspace.summary import RunSummary, read_summary, write_summary
from . import budget, calibration, checkpoints, device, environment, speed_cache, system
from .build import build_training, train_step
from .checkpoints import CheckpointError
from .distributed import LOST_CONTACT, Solo, lost_contact
from .ema import WeightEMA
from .evaluate import EvalResult, evaluate_model, tta_accuracy
from .optim import set_lr
from .preflight import check_new_run
from .schedules import lr_at
from .stopping import PRUNED, StopRule, Verdict, early_stopping

BUDGET_STEPS = "budget-steps.json"  # a budget run's schedule share at every step
REPLAY_STEPS = "replay-steps.json"  # the budget run's shares a replay of it (train --like) follows
VALIDATION = "validation.json"  # the run's held-out split: a resume must draw the same images
RANK_STREAM = 5  # the random stream a rank's dropout is seeded from (pipeline's streams are 1-4)
PROGRESS_INTERVAL_S = 0.25  # batch events a second at most: enough for a smooth bar, no flood
SYSTEM_INTERVAL_S = 5.0  # system samples in events.jsonl: enough for a pane, a few lines a minute


class RunError(Exception):
    """A problem the user can fix; becomes a RunFailed event with this message."""


class AgreedError(RunError):
    """A failure every process of a run raises alike (a divergence, rank 0's failed write): rank 0
    reports it, the other ranks need not repeat it."""


T = TypeVar("T")


@dataclass
class _Run:
    """What one run trains with, built once by Trainer._set_up."""
    place: device.Placement
    data: Dataset
    model: torch.nn.Module  # unwrapped: what checkpoints and evaluation use
    net: torch.nn.Module  # what a step calls: the model, or DDP around it on several processes
    optimizer: torch.optim.Optimizer
    ema: WeightEMA | None
    batches: TrainBatches
    start: checkpoints.ResumePoint
    header: dict  # what every checkpoint of the run carries

    def eval_weights(self) -> contextlib.AbstractContextManager:
        """The weights evaluation and checkpoints use: the EMA's while it is on."""
        return self.ema.swapped(self.model) if self.ema is not None else contextlib.nullcontext()


@dataclass
class _Tally:
    """One epoch's running sums, kept on the device so that a step never waits for the host."""
    loss_sum: torch.Tensor
    correct: torch.Tensor  # MixUp-weighted hits
    seen: int
    elapsed_before: float  # seconds of this epoch trained before a resume
    t0: float
    epoch_images: int = 0  # images trained in this process (for img/s)
    lr: float = 0.0
    stopped_at: int | None = None  # the step a stop arrived at
    spent: bool = False  # a budget run's clock ran out in this epoch

    @classmethod
    def begin(cls, place: torch.device, partial: dict | None) -> _Tally:
        zero = lambda: torch.zeros((), device=place)  # noqa: E731
        tally = cls(zero(), zero(), 0, 0.0, time.perf_counter())
        if partial:
            tally.loss_sum += partial["loss_sum"]
            tally.correct += partial["correct"]
            tally.seen, tally.elapsed_before = partial["seen"], partial["seconds"]
        return tally

    def add(self, loss: torch.Tensor, logits: torch.Tensor, batch) -> None:
        n = len(batch.targets_a)
        self.loss_sum += loss.detach() * n
        hits = logits.detach().argmax(-1)
        self.correct += (hits == batch.targets_a).sum() * batch.lam
        if batch.lam != 1.0:
            self.correct += (hits == batch.targets_b).sum() * (1.0 - batch.lam)
        self.seen += n
        self.epoch_images += n

    def speed(self, now: float) -> float:
        return self.epoch_images / max(now - self.t0, 1e-9)

    def reduce(self, group: Solo) -> None:
        """Every process's sums, once its part of the epoch is trained (or stopped)."""
        if group.world == 1:
            return
        mine = torch.stack([self.loss_sum.double(), self.correct.double(),
                            self.loss_sum.new_tensor(self.seen, dtype=torch.float64),
                            self.loss_sum.new_tensor(self.epoch_images, dtype=torch.float64)])
        total = group.sum_(mine)
        self.loss_sum, self.correct = total[0], total[1]
        self.seen, self.epoch_images = int(total[2]), int(total[3])

    def sums(self) -> dict:
        """What last.pt keeps of an epoch stopped part-way, for resume to carry on."""
        return {"loss_sum": self.loss_sum.item(), "correct": self.correct.item(), "seen": self.seen,
                "seconds": self.elapsed_before + time.perf_counter() - self.t0}


class Trainer:
    """Train `cfg`, or resume the run in `resume` (its config.toml and last.pt win over `cfg`).

    `data` None: the default data folder for a new run, the recorded one for a resumed run.
    `stop_rules` may end the run after an evaluated epoch (a search's pruner); run.early_stop_patience
    adds early stopping. `study` (name, trial number) labels a search's trial in its summary and tags;
    `seed_group` (id, seeds) a member of a seed group.
    `group`: this process's place in a run on several processes (distributed.join); rank 0 alone
    writes the run folder and reports. With run.budget_s, the run is planned after its data load
    (training/budget.py) and trains on the clock; `started_at` (time.time()) is when its budget
    began, the process's start by default."""

    def __init__(self, cfg: Config | None = None, *, data: str | None = None, runs_dir: Path | str = "runs",
                 preset: str = "custom", device_name: str = "auto", sink: Sink | None = None,
                 control: RunControl | None = None, resume: Path | str | None = None,
                 epochs: int | None = None, dataset: Dataset | None = None,
                 stop_rules: list[StopRule] | None = None, study: tuple[str, int] | None = None,
                 group: Solo | None = None, started_at: float | None = None,
                 seed_group: tuple[str, list[int]] | None = None, replay: list[float] | None = None):
        if cfg is None and resume is None:
            raise ValueError("Trainer needs a config or a run folder to resume")
        self.cfg = cfg
        self.data_source = data
        self.runs_dir = Path(runs_dir)
        self.preset = preset
        self.device_name = device_name
        self.sink = sink or (lambda event: None)
        self.control = control or RunControl()
        self.resume_dir = Path(resume) if resume else None
        self.epochs_override = epochs
        self.dataset = dataset
        self.stop_rules = list(stop_rules or [])
        self.study = study
        self.seed_group = seed_group  # (id, seeds): a member of `train --seeds N`, recorded in its summary
        self.group = group or Solo()
        # A budget counts from here: the process's creation (start-up and imports count), or the
        # moment the app's user pressed F5.
        self.started_at = started_at
        self.clock: budget.BudgetClock | None = None  # a budget run's schedule position
        self.replay = replay  # a budget run's shares a step, which this fixed run trains to again
        self.plan: budget.Plan | None = None
        self.progress_log: list[float] = []  # its schedule share at every step, to replay it
        self.steps_complete = True  # progress_log holds every step since the start (a resume read them back)
        self.run_dir: Path | None = None
        self.summary: RunSummary | None = None
        self.recorders: list = []  # more listeners the run itself adds: a TensorBoard writer
        self._next_system_sample = 0.0
        self._next_data_report = 0.0
        self._live_marked = False
        self.failure_agreed = False
        self.best_saved_epoch: int | None = None  # the epoch best.pt on disk holds
        self.last_evals: dict[str, EvalResult] = {}  # the last plain evaluation of each split

    # --- reporting ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if not self.group.main:
            return
        if self.run_dir is not None:
            try:
                folder.append_event(self.run_dir, event)
            except OSError:
                pass  # the event log is for followers; a full disk must not stop the run here
        for record in self.recorders:
            record(event)
        self.sink(event)

    def run(self) -> RunFinished | RunFailed:
        """Run to the end; never raises for problems a user can fix, reports RunFailed instead."""
        try:
            return self._run()
        except (RunError, DataError, CheckpointError, ConfigError, ValueError) as e:
            failed = RunFailed(str(e), str(self.run_dir) if self.run_dir else None)
            self.failure_agreed = isinstance(e, AgreedError)
        except torch.OutOfMemoryError:  # a GPU's (a CPU's shows as a plain RuntimeError)
            failed = self._out_of_memory()
        except RuntimeError as e:
            if self.group.world == 1 or (reason := lost_contact(e)) is None:
                failed = self._unexpected(e)
            else:  # a peer process died or hung up mid-collective
                again = ("the same torchrun lines with --resume" if self.group.machines else
                         f"tui-trainer train --resume {self.run_dir} --nproc {self.group.world}")
                failed = RunFailed(f"rank {self.group.rank} {LOST_CONTACT} ({reason}); resume with: {again}",
                                   str(self.run_dir) if self.run_dir else None)
        except OSError as e:
            message = e.strerror if isinstance(e, DiskFull) else f"{e.filename or 'file system'}: {e.strerror or e}"
            failed = RunFailed(message, str(self.run_dir) if self.run_dir else None)
        except Exception as e:  # noqa: BLE001 - anything else is a bug; keep its trace for the report
            failed = self._unexpected(e)
        # Only a run this process started: a refused resume leaves the old run's summary as it was.
        if self.summary is not None and self._live_marked:
            try:
                self._write_summary(state="failed", message=failed.message)
            except OSError:
                pass  # the disk that failed the run may refuse this too; events.jsonl has the message
        self.emit(failed)
        if self.run_dir is not None and self.group.main:
            folder.clear_live(self.run_dir)  # after the last event, so a follower reads it before the run looks dead
        return failed

    def _out_of_memory(self) -> RunFailed:
        """One line for the commonest failure of a first GPU run: a batch too large for the card
        (or another process holding its memory). The memory goes back to the card for whatever
        this process does next (the app trains again in it)."""
        torch.cuda.empty_cache()
        message = "out of GPU memory"
        if self.cfg is not None:
            batch = self.cfg.data.batch_size
            message += (f" at data.batch_size {batch}: train with a smaller data.batch_size "
                        f"(--set data.batch_size={max(1, batch // 2)})")
        if self.run_dir is not None and (last := self.run_dir / "checkpoints" / "last.pt").is_file():
            message += f"; {last} is kept"
        return RunFailed(message,
                         str(self.run_dir) if self.run_dir else None)

    def _unexpected(self, e: Exception) -> RunFailed:
        where = self._save_traceback()
        return RunFailed(f"unexpected {type(e).__name__}: {e}" + (f" (traceback in {where})" if where else ""),
                         str(self.run_dir) if self.run_dir else None)

    def _save_traceback(self) -> Path | None:
        if self.run_dir is None:
            return None
        if not self.group.main:  # only rank 0 writes the run folder (which another machine may not have)
            traceback.print_exc()
            return None
        path = self.run_dir / "error.log"
        try:
            path.write_text(traceback.format_exc())
        except OSError:
            return None
        return path

    # --- the run ------------------------------------------------------------------------------

    def _prepare_run_dir(self) -> dict | None:
        """Create or reopen the run folder; returns the resume checkpoint, if any."""
        if self.resume_dir is None:
            check_new_run(self.cfg, None if self.dataset is not None else self.data_source or locations.default_data())
            folder.check_writable(self.runs_dir)
            label = f"{self.study[0]}-t{self.study[1]}" if self.study else self.preset
            self.run_dir = folder.new_run_dir(self.runs_dir, label)
            folder.write_config(self.run_dir, self.cfg)
            self.data_source = locations.canonical_data(self.data_source or locations.default_data())
            self.summary = RunSummary(preset=self.preset, data=self.data_source, started_at=time.time())
            if self.seed_group:
                self.summary.group, self.summary.group_seeds = self.seed_group[0], list(self.seed_group[1])
            if self.study:
                self.summary.study, self.summary.trial = self.study
                edit_tags(self.run_dir, [self.study[0], f"trial-{self.study[1]}"], [])
            self._mark_live()  # at once: loading data can take minutes, the run is listed live meanwhile
            return None
        run_dir = self.resume_dir
        if not (run_dir / folder.CONFIG).is_file():
            raise RunError(f"{run_dir}: not a run folder (no {folder.CONFIG})")
        if (pid := folder.live_pid(run_dir)) is not None:
            raise RunError(f"{run_dir}: this run is still training (pid {pid}); stop it first")
        folder.check_writable(run_dir)
        self.cfg = folder.read_config(run_dir)
        try:
            self.summary = read_summary(run_dir) or RunSummary(preset=self.preset, started_at=time.time())
        except ValueError:
            self.summary = RunSummary(preset=self.preset, started_at=time.time())  # rewritten below
        if self.data_source is None:
            self.data_source = folder.run_data(run_dir).source
            if self.data_source is None:
                raise RunError(f"{run_dir} does not record the data it was trained on (an older run): "
                               f"give --data DIR or --data synthetic")
        self.data_source = locations.canonical_data(self.data_source)
        self.summary.data = self.data_source
        self.summary.state, self.summary.message = "live", None
        state = checkpoints.load(run_dir / "checkpoints" / "last.pt")
        self.run_dir = run_dir
        if self.epochs_override is not None and self.epochs_override != self.cfg.run.epochs:
            if self.epochs_override <= state["epoch"]:
                raise RunError(f"--epochs {self.epochs_override}: the run has done {state['epoch']} epochs; "
                               f"give a larger total to train more")
            self.cfg.set("run.epochs", self.epochs_override)
            folder.write_config(run_dir, self.cfg)
        for stale in (run_dir / "checkpoints").glob(".*.tmp*"):
            stale.unlink(missing_ok=True)  # left by a kill during a checkpoint write
        # A stop or pause that arrived after the last step was never read: it was for the old process.
        (run_dir / CONTROL_FILE).unlink(missing_ok=True)
        folder.truncate_metrics(run_dir, state["epoch"])
        # last.pt is written after best.pt, so the best it names is the one on disk.
        self.best_saved_epoch = state.get("best_epoch")
        self._mark_live()
        return state

    def _mark_live(self) -> None:
        folder.mark_live(self.run_dir)
        self._live_marked = True
        self._write_summary()

    def _run(self) -> RunFinished:
        """The whole run: set up, then each epoch trained and ended, then the finish."""
        started = time.perf_counter()
        r = self._set_up(self._open())
        stopped, verdict = False, None
        if self.clock is not None:
            self.clock.start(time.perf_counter())
        # A budget run resumed after its clock ran out trains no more: it is only finished again.
        first = self.cfg.run.epochs if self.clock is not None and self.clock.start_progress >= 1 else r.start.epoch
        for epoch in range(first, self.cfg.run.epochs):
            tally = self._train_epoch(r, epoch)
            tally.reduce(self.group)
            if tally.stopped_at is not None:
                rngs = self._rank_rngs(r)
                self._on_main(lambda: self._save_last(r, epoch, tally.stopped_at, tally.sums(),
                                                      {"test_acc": self.last_test_acc,
                                                       "val_acc": self.last_val_acc}, rngs))
                stopped = True
                break
            ends = (epoch + 1) * r.batches.steps_per_epoch
            last = (tally.spent or epoch + 1 == self.cfg.run.epochs
                    or (self.clock is not None and self.clock.ran_out(time.perf_counter(), ends)))
            self._end_epoch(r, epoch, tally, last)
            if last or (verdict := self._on_main(self._judge)) is not None:
                break
        return self._finish(r, stopped, verdict, time.perf_counter() - started)

    def _open(self) -> dict | None:
        """The run folder, made or reopened by rank 0; the other ranks learn where it is, its
        config and data, and resume from the same last.pt (sent, so no other machine needs the folder)."""
        def prepare():
            state = self._prepare_run_dir()
            return state, self.run_dir, self.cfg.to_dict(), self.data_source
        state, run_dir, cfg, data = self._on_main(prepare)
        if not self.group.main:
            self.run_dir, self.cfg, self.data_source = run_dir, Config.from_dict(cfg), data
        return state

    def _set_up(self, state: dict | None) -> _Run:
        """Device, data, model, optimizer and batches; from last.pt when resuming. Emits RunStarted."""
        cfg, g = self.cfg, self.group
        place = device.resolve(self.device_name, cfg.run.precision, g.local_rank)
        if g.main:  # the one reader of the control file; the others learn of a stop by agreement
            self.control.watch_file(self.run_dir)
            if cfg.run.tensorboard:
                from .tensorboard import TensorBoardWriter  # imported only by runs that ask for it
                self.recorders.append(TensorBoardWriter(self.run_dir))
        # Every rank builds its own; one that cannot (its machine lacks the data, its GPU is full)
        # tells the others here, where they would otherwise wait for it in the first collective.
        data, model, optimizer, batches, start, ema = self._everyone(lambda: self._build(place, state))
        position = start.epoch * batches.steps_per_epoch + start.step
        self.steps_complete = self.steps_complete and len(self.progress_log) >= position
        del self.progress_log[position:]  # a resumed budget run's
        self.best_acc, self.best_epoch, self.last_test_acc = start.best_acc, start.best_epoch, start.test_acc
        self.best_val_acc, self.last_val_acc = start.best_val_acc, start.val_acc
        self._on_main(lambda: self._record_validation(data.validation, resumed=state is not None))
        # Muon needs nothing more under DDP: every rank orthogonalizes the same all-reduced gradient.
        net = g.wrap(model, cfg.run.sync_bn)

        parameters = count_parameters(model)
        described = place.describe() + (f" x {g.world} processes" if g.world > 1 else "")

        def announce() -> None:
            environment.write(self.run_dir, environment.capture(place, cfg, self.data_source), resumed=state is not None)
            self._write_summary(device=described, precision=place.precision, parameters=parameters)
            self.emit(RunStarted(str(self.run_dir), cfg.to_dict(), described, place.precision, parameters,
                                 batches.steps_per_epoch, start.epoch, list(data.classes), time.time(),
                                 self.data_source, data.validation))
        self._on_main(announce)
        return _Run(place, data, model, net, optimizer, ema, batches, start,
                    checkpoints.header(cfg, data.classes, place.precision))

    def _build(self, place: device.Placement, state: dict | None) -> tuple:
        cfg, g = self.cfg, self.group
        data = with_validation(self.dataset or load_dataset(self.data_source, cfg.data, progress=self._data_progress),
                               cfg.data)
        if state is not None and list(state["classes"]) != list(data.classes):
            raise RunError(f"{self.run_dir} was trained on classes {state['classes']}, but {data.source} has {data.classes}")
        if cfg.run.budget_s > 0:
            self._on_time(data, place, state)
        elif self.replay is not None or (self.run_dir / REPLAY_STEPS).is_file():
            self._replaying()
        model, optimizer, batches = build_training(cfg, data, place, fresh=state is None, shard=(g.rank, g.world))
        start = checkpoints.ResumePoint()
        if state is not None:
            start = checkpoints.restore(state, model, optimizer, self.run_dir / "checkpoints" / "last.pt",
                                        g.rank, g.world)
        if g.world > 1 and len((state or {}).get("rngs") or ()) != g.world:
            # The same weights on every rank, then a random stream each: dropout masks of their own.
            torch.manual_seed(stream_seed(cfg.run.seed, g.rank, RANK_STREAM))
        # After the weights are loaded: an EMA switched on at resume starts from them, not from init.
        ema = WeightEMA(model, cfg.run.ema_decay) if cfg.run.ema_decay > 0 else None
        if ema is not None and state is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        return data, model, optimizer, batches, start, ema

    def _on_time(self, data: Dataset, place: device.Placement, state: dict | None) -> None:
        """A budget run: planned now that its data is loaded (calibrating this machine first when
        its speed is not cached), or, resumed, on the clock it had when it stopped."""
        if self.group.world > 1:
            raise RunError("run.budget_s trains on one process: drop --nproc, or set run.budget_s=0")
        if state is not None:
            kept = state.get("budget") or {}
            if not kept:
                raise RunError(f"{self.run_dir}'s last.pt holds no budget clock (a run from before budgets)")
            if self.epochs_override is not None:
                raise RunError("--epochs does not apply to a budget run: it resumes on its own clock")
            self.clock = budget.BudgetClock(float(kept["train_s"]), float(kept["progress"]))
            try:  # cut to the steps done in _set_up
                recorded = json.loads((self.run_dir / BUDGET_STEPS).read_text())
                self.progress_log, self.steps_complete = recorded["progress"], recorded.get("complete", True)
            except (OSError, ValueError, KeyError, TypeError):
                self.steps_complete = False  # the steps before the stop are lost: no replay can follow them
            if kept.get("plan"):
                self.plan = budget.Plan(**{k: v for k, v in kept["plan"].items() if k != "event"})
                self.emit(BudgetPlanned(kept["plan"], f"resumed at {kept['progress']:.0%} of its "
                                                      f"{kept['train_s']:.0f} s of training; {self.plan.describe()}"))
            return
        cfg = self.cfg
        # Start-up counts when the budget began with this process (a `tui-trainer train`): the cache
        # keeps it for plans made before a run (Setup, presets), which cannot measure it.
        own_process = self.started_at is None
        started = calibration.process_started() if own_process else self.started_at
        startup_s = time.time() - started
        tables = budget.tables_for(cfg, len(data.train_x), check_source(self.data_source, cfg.data)[0])
        speeds, key = calibration.speeds(cfg, budget.candidates(cfg, tables), data, place,
                                         lambda text: self.emit(Notice(text)))
        if own_process:
            speed_cache.store_startup(key, startup_s)
        try:
            plan = budget.plan(cfg, cfg.run.budget_s, time.time() - started, speeds, len(data.train_x),
                               len(data.test_x), tables)
        except ValueError as e:
            raise RunError(str(e)) from None
        budget.apply(cfg, plan, tables)
        self.clock = budget.BudgetClock(plan.train_s)
        self.plan = plan
        folder.write_config(self.run_dir, cfg)
        self.emit(BudgetPlanned(plan.to_json(), plan.describe()))

    def _replaying(self) -> None:
        """A new replay records the shares it plays (a resume plays them again from its step)."""
        path = self.run_dir / REPLAY_STEPS
        if self.replay is not None:
            atomic_write(path, lambda f: f.write(json.dumps({"progress": self.replay}).encode()))
        try:
            self.clock = budget.ReplayClock(json.loads(path.read_text())["progress"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"{path} unreadable ({e}): the steps this run replays are lost") from None

    def _record_validation(self, split: dict | None, resumed: bool) -> None:
        """A new run records its held-out split; a resumed one must hold out the images it did."""
        path = self.run_dir / VALIDATION
        self.summary.validation = split["images"] if split else 0
        if not resumed:
            if split:
                atomic_write(path, lambda f: f.write(json.dumps(split).encode()))
            return
        try:
            recorded = json.loads(path.read_text())
        except FileNotFoundError:
            recorded = None  # it held nothing out (or is from before validation splits)
        except (OSError, ValueError) as e:
            raise RunError(f"{path} unreadable ({e}): its validation split cannot be checked") from None
        same = ("digest", "images", "per_class", "source")
        if (recorded is None) != (split is None) or (split and any(recorded.get(k) != split.get(k) for k in same)):
            raise RunError(f"{self.run_dir} trained with {describe_split(recorded)}, but its data now gives "
                           f"{describe_split(split)}: the data or data.validation changed; resume it on the data "
                           f"it trained on")

    def _budget_state(self) -> dict | None:
        """What last.pt keeps of a budget run: its clock, and its plan for a resumed run to say."""
        kept = self.clock.state(time.perf_counter()) if self.clock is not None else None
        return {**kept, "plan": self.plan.to_json() if self.plan else None} if kept is not None else None

    def _record_steps(self) -> None:
        """The schedule share each step took, so that the run can be replayed as a fixed run."""
        steps = {"budget_s": self.cfg.run.budget_s, "progress": self.progress_log, "complete": self.steps_complete}
        atomic_write(self.run_dir / BUDGET_STEPS, lambda f: f.write(json.dumps(steps).encode()))

    def _train_epoch(self, r: _Run, epoch: int) -> _Tally:
        """One epoch's steps; returns early, at a step boundary, when a stop is asked for."""
        cfg, steps = self.cfg, r.batches.steps_per_epoch
        total_steps = steps * cfg.run.epochs
        resuming = epoch == r.start.epoch
        # An epoch stopped part-way counts its sums once, on rank 0, however many ranks resume it.
        tally = _Tally.begin(r.place.device, r.start.partial if resuming and self.group.main else None)
        tally.lr = lr_at(cfg.schedule, cfg.optimizer.lr, epoch * steps, steps, total_steps)
        next_report = tally.t0 + PROGRESS_INTERVAL_S
        for step, batch in enumerate(r.batches.epoch(epoch)):
            if resuming and step < r.start.step:
                continue  # resuming mid-epoch: the epoch's batches are a function of (seed, epoch)
            if self._stop_here(tally, epoch, step):
                tally.stopped_at = step
                return tally
            position = epoch * steps + step
            if self.clock is not None:  # a budget run: the schedule at the clock's share of its time
                share = self.clock.progress(time.perf_counter(), position)
                if share >= 1.0 and tally.seen:
                    tally.spent = True
                    return tally
                self.progress_log.append(share)  # unrounded: a replay must land on the same step of the schedule
                position = min(round(share * total_steps), total_steps)
            tally.lr = lr_at(cfg.schedule, cfg.optimizer.lr, position, steps, total_steps)
            set_lr(r.optimizer, tally.lr)
            loss, logits = train_step(r.net, r.optimizer, batch, r.place, cfg.augment.label_smoothing)
            if r.ema is not None:
                r.ema.update(r.model)
            tally.add(loss, logits, batch)
            now = time.perf_counter()
            if now >= next_report:  # the only host sync of a step, a few times a second
                next_report = now + PROGRESS_INTERVAL_S
                running = tally.loss_sum.item() / max(tally.seen, 1)
                if self.group.world == 1:  # several processes check at their agreed steps instead
                    self._check_finite(running, epoch + 1, step + 1, tally.lr)
                # Rank 0's running figures stand for the batch's; its speed times the ranks, for all.
                self.emit(BatchProgress(epoch + 1, step + 1, steps, running, tally.lr,
                                        tally.speed(now) * self.group.world, tally.correct.item() / max(tally.seen, 1)))
                if now >= self._next_system_sample:
                    self._next_system_sample = now + SYSTEM_INTERVAL_S
                    self.emit(system.sample())
        return tally

    def _end_epoch(self, r: _Run, epoch: int, tally: _Tally, last: bool) -> None:
        """Evaluate (when due, and after the `last` epoch), record the epoch, keep best.pt when it is
        the best, save last.pt."""
        cfg = self.cfg
        train_loss = tally.loss_sum.item() / max(tally.seen, 1)  # waits for the device: its last steps count
        train_seconds = time.perf_counter() - tally.t0
        self._check_finite(train_loss, epoch + 1, r.batches.steps_per_epoch, tally.lr)
        test_loss = test_acc = val_loss = val_acc = None
        if (epoch + 1) % cfg.run.eval_every == 0 or last:
            result = self._evaluate(r)
            test_loss, test_acc = result.loss, result.accuracy
            self.last_test_acc, self.last_evals["test"] = test_acc, result
            if r.data.val_x is not None:
                held = self._evaluate(r, split="val")
                val_loss, val_acc = held.loss, held.accuracy
                self.last_val_acc, self.last_evals["val"] = val_acc, held
        ended = EpochEnded(epoch + 1, train_loss, tally.correct.item() / max(tally.seen, 1), test_loss, test_acc,
                           tally.lr, tally.elapsed_before + time.perf_counter() - tally.t0,
                           tally.epoch_images / max(train_seconds, 1e-9), False, val_loss, val_acc,
                           tally.elapsed_before + train_seconds)
        # Validation chooses when the run holds images out; the test set then only reports.
        score, best_score = ended.chosen_acc, self.best_val_acc if r.data.val_x is not None else self.best_acc
        # Capped so that a run shorter than best_after_epoch (a quick --epochs 1) still keeps a best.pt.
        is_best = (score is not None and epoch + 1 > min(cfg.run.best_after_epoch, cfg.run.epochs - 1)
                   and (best_score is None or score > best_score))
        ended = dataclasses.replace(ended, is_best=is_best)
        metrics = {"train_loss": ended.train_loss, "train_acc": ended.train_acc,
                   "test_loss": test_loss, "test_acc": test_acc, "val_loss": val_loss, "val_acc": val_acc}
        if is_best:
            self.best_acc, self.best_val_acc, self.best_epoch = test_acc, val_acc, epoch + 1
        rngs = self._rank_rngs(r)

        def record() -> None:
            # Row first, checkpoint second: a kill in between leaves a row that resume cuts off.
            folder.append_metrics(self.run_dir, ended)
            self.emit(ended)
            if is_best:
                payload = checkpoints.weights_payload(r.header, self._eval_state(r), epoch + 1, metrics)
                self._save(self.run_dir / "checkpoints" / "best.pt", payload, epoch + 1, "best")
            self._save_last(r, epoch + 1, 0, None, metrics, rngs)
            self._write_summary()
        self._on_main(record)

    def _judge(self) -> Verdict | None:
        """Whether a stop rule ends the run after this epoch (judged only on evaluated epochs)."""
        rules = self.stop_rules
        if self.cfg.run.early_stop_patience > 0:
            rules = [early_stopping(self.cfg.run.early_stop_patience, self.cfg.run.early_stop_min_delta), *rules]
        if not rules:
            return None  # the common case: no need to read metrics.csv again
        history = folder.read_metrics(self.run_dir)
        if not history or history[-1].test_acc is None:
            return None
        return next((v for rule in rules if (v := rule(history)) is not None), None)

    def _finish(self, r: _Run, stopped: bool, verdict: Verdict | None, seconds: float) -> RunFinished:
        """The final (TTA) evaluation of a run that was not stopped or pruned, and the closing records."""
        final_acc, final_val_acc = self.last_test_acc, self.last_val_acc
        tta = self.cfg.run.tta and not stopped and (verdict is None or verdict.state != PRUNED)
        if tta:
            final_acc = self._tta_accuracy(r)
            if r.data.val_x is not None:  # the final figure a search may judge by, made as the test's is
                final_val_acc = self._tta_accuracy(r, split="val")
        state = verdict.state if verdict else "stopped" if stopped else "finished"

        def close() -> RunFinished:
            finished = RunFinished(str(self.run_dir), self.best_acc, self.best_epoch,
                                   len(folder.read_metrics(self.run_dir)), seconds, final_acc, stopped,
                                   verdict.message if verdict else None, state, self.best_val_acc, final_val_acc)
            # The summary first: whoever the event wakes (a notify command) reads the final one.
            self._write_summary(state=state, message=finished.ended, final_acc=final_acc, final_tta=tta,
                                val_acc=final_val_acc)
            if self.cfg.run.budget_s and self.group.world == 1 and self.summary.images_per_s:
                # What a budget run measured refines the calibration its plan used.
                speed_cache.refine(calibration.machine_key(r.place), self.cfg, self.summary.images_per_s)
            self.emit(finished)
            folder.clear_live(self.run_dir)
            return finished
        return self._on_main(close)

    # --- the phases' helpers ------------------------------------------------------------------

    def _data_progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done in (0, total) or now >= self._next_data_report:  # throttled like batch progress
            self._next_data_report = now + PROGRESS_INTERVAL_S
            self.emit(DataProgress(done, total))

    def _stop_here(self, tally: _Tally, epoch: int, step: int) -> bool:
        """Whether the run stops before this step; waits here while paused. Several processes ask
        at the same steps and agree, so they stop, pause and diverge together."""
        if not self.group.due(step):
            return False
        stop, pause, diverged = self.group.agree(self.control.stop_requested, self.control.paused, tally.loss_sum)
        if diverged:
            loss = tally.loss_sum.item() / max(tally.seen, 1)
            self._check_finite(loss if not math.isfinite(loss) else math.nan, epoch + 1, step, tally.lr)
        if pause and not stop:
            paused_s, stop = self._wait_paused(epoch + 1)
            tally.t0 += paused_s  # paused time is not training time
            if self.clock is not None:
                self.clock.paused_s += paused_s  # nor a budget's
        return stop

    def _everyone(self, work: Callable[[], T]) -> T:
        """`work` on every rank; any rank's failure is raised on all of them (the first failing
        rank's message), so none waits for a rank that has given up."""
        if self.group.world == 1:
            return work()
        result = failure = None
        try:
            result = work()
        except Exception as e:  # noqa: BLE001 - told to the others, then raised as theirs
            failure = e
            if not isinstance(e, (RunError, DataError, CheckpointError, ConfigError, ValueError, OSError)):
                traceback.print_exc()  # a bug: its trace, on this rank's stderr
        said = self.group.gather(None if failure is None else str(failure) or repr(failure))
        first = next(((rank, message) for rank, message in enumerate(said) if message is not None), None)
        if first is None:
            return result
        rank, message = first
        raise AgreedError(message if rank == 0 else f"rank {rank}: {message}")

    def _on_main(self, work: Callable[[], T]) -> T:
        """Rank 0's share of the run (the run folder, records, checkpoints, stop rules), its result
        or its failure sent to every rank: a full disk on rank 0 then ends every rank with its
        message, where the others would wait in the next collective."""
        if self.group.world == 1:
            return work()
        result = failure = None
        if self.group.main:
            try:
                result = work()
            except Exception as e:  # noqa: BLE001 - told to the others, then raised here as it was
                failure = e
        result, message = self.group.share((result, None if failure is None else str(failure) or repr(failure)))
        if failure is not None:
            raise failure
        if message is not None:
            raise AgreedError(message)
        return result

    def _evaluate(self, r: _Run, tta: bool = False, split: str = "test") -> EvalResult:
        """Each process evaluates its part of the test (or validation) split with rank 0's BatchNorm
        statistics."""
        g = self.group
        x, y = r.data.split(split)
        with r.eval_weights():
            g.sync_buffers(r.model)
            result = evaluate_model(r.model, g.shard(x), g.shard(y), self.cfg.data.mean,
                                    self.cfg.data.std, r.place, r.data.classes, tta=tta)
        return result.summed(g.sum_) if g.world > 1 else result

    def _tta_accuracy(self, r: _Run, split: str = "test") -> float:
        """The final TTA figure; with run.tta_share under 1, TTA only where the last epoch's plain
        evaluation (of these same weights: the last epoch always evaluates) was least sure. On
        several processes every image gets TTA (the plain results were summed, not kept)."""
        plain = self.last_evals.get(split)
        if self.group.world > 1 or plain is None:
            return self._evaluate(r, tta=True, split=split).accuracy
        x, y = r.data.split(split)
        with r.eval_weights():
            return tta_accuracy(r.model, x, y, self.cfg.data.mean, self.cfg.data.std, r.place, plain,
                                self.cfg.run.tta_share)

    def _eval_state(self, r: _Run) -> dict[str, torch.Tensor]:
        with r.eval_weights():
            return checkpoints.cpu_state(r.model)

    def _rank_rngs(self, r: _Run) -> list[dict[str, torch.Tensor]] | None:
        """Every rank's random state for last.pt, so that each resumes its own dropout masks; None
        on one process, whose last.pt keeps its one state as ever."""
        return self.group.gather(device.rng_state(r.place.device)) if self.group.world > 1 else None

    def _save_last(self, r: _Run, epoch_done: int, step: int, partial: dict | None, metrics: dict,
                   rngs: list[dict[str, torch.Tensor]] | None = None) -> None:
        payload = checkpoints.training_payload(
            r.header, self._eval_state(r), epoch=epoch_done, step=step, partial=partial, metrics=metrics,
            optimizer=r.optimizer.state_dict(), ema=r.ema.state_dict() if r.ema is not None else None,
            train_weights=checkpoints.cpu_state(r.model) if r.ema is not None else None,
            best_acc=self.best_acc, best_epoch=self.best_epoch, rng=device.rng_state(r.place.device), rngs=rngs,
            budget=self._budget_state(), best_val_acc=self.best_val_acc)
        self._save(self.run_dir / "checkpoints" / "last.pt", payload, epoch_done, "last")
        if self.cfg.run.budget_s:  # beside last.pt: the steps a resume goes on from
            self._record_steps()

    def _write_summary(self, **changes) -> None:
        """Rewrite summary.json: the given fields, and what metrics.csv says of the epochs so far."""
        s = self.summary
        for key, value in changes.items():
            setattr(s, key, value)
        done = folder.read_metrics(self.run_dir)
        # Only a best that best.pt holds: a row is written before its checkpoint, which a full disk
        # can refuse.
        saved = self.best_saved_epoch or 0
        best = next((m for m in reversed(done) if m.is_best and m.epoch <= saved), None)
        s.epochs_done, s.epochs_total = len(done), self.cfg.run.epochs
        s.best_acc, s.best_epoch = (best.test_acc, best.epoch) if best else (None, None)
        held_out = best is not None and best.val_acc is not None
        s.best_val_acc, s.best_val_epoch = (best.val_acc, best.epoch) if held_out else (None, None)
        s.train_seconds = sum(m.seconds or 0.0 for m in done)
        s.images_per_s = (sum((m.images_per_s or 0.0) * (m.seconds or 0.0) for m in done) / s.train_seconds
                          if s.train_seconds > 0 else None)
        s.updated_at = time.time()
        s.config = flatten(self.cfg.to_dict())
        write_summary(self.run_dir, s)

    def _save(self, path: Path, payload: dict, epoch: int, kind: str) -> None:
        try:
            checkpoints.save(path, payload)
        except OSError as e:
            what = e.strerror if isinstance(e, DiskFull) else f"could not write {path}: {e.strerror or e}"
            kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
            raise RunError(f"{what}; {kept}") from None
        if kind == "best":
            self.best_saved_epoch = epoch
        self.emit(CheckpointSaved(str(path), epoch, kind))

    def _check_finite(self, loss: float, epoch: int, step: int, lr: float) -> None:
        if not math.isfinite(loss):
            raise AgreedError(f"training diverged: the loss became {loss} by epoch {epoch}, step {step} "
                           f"(lr {lr:.3g}); lower optimizer.lr or add schedule.warmup_epochs. "
                           f"best.pt and the last good last.pt are kept")

    def _wait_paused(self, epoch: int) -> tuple[float, bool]:
        """Block while paused; returns the seconds spent and whether a stop ended the pause. Several
        processes wait together, agreeing a few times a second (so no collective times out)."""
        start = time.perf_counter()
        self.emit(RunPaused(epoch, True))
        stop = False
        idle = torch.zeros(())
        while True:
            self.control.wait_while_paused()  # returns at once on ranks other than 0: they wait in agree
            stop, pause, _ = self.group.agree(self.control.stop_requested, self.control.paused, idle)
            if stop or not pause:
                break
        self.emit(RunPaused(epoch, False))
        return time.perf_counter() - start, stop

