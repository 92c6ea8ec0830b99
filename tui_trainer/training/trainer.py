"""The training loop: one config, run to the end in the calling thread, reported through a sink.

It knows nothing of any UI. Everything a listener learns comes as an event (events.py), and the
same events go to the run folder's events.jsonl, so another process can follow the run.
"""
from __future__ import annotations

import contextlib
import math
import time
import traceback
from pathlib import Path

import torch

from ..config import Config, ConfigError
from .. import locations
from ..data import Dataset, DataError, load_dataset
from ..data.pipeline import TrainBatches, mixed_loss, normalize
from ..models import build_model, count_parameters
from . import checkpoints, device, runs
from .checkpoints import CheckpointError
from .control import CONTROL_FILE, RunControl
from .ema import WeightEMA
from .evaluate import evaluate_model
from .events import (BatchProgress, CheckpointSaved, EpochEnded, Event, RunFailed, RunFinished,
                     RunPaused, RunStarted, Sink)
from .optim import build_optimizer, set_lr
from .schedules import lr_at
from .summary import RunSummary, read_summary, write_summary

PROGRESS_INTERVAL_S = 0.25  # batch events a second at most: enough for a smooth bar, no flood
WHITENING_IMAGES = 5000


class RunError(Exception):
    """A problem the user can fix; becomes a RunFailed event with this message."""


class Trainer:
    """Train `cfg`, or resume the run in `resume` (its config.toml and last.pt win over `cfg`).

    `data` None: the default data folder for a new run, the recorded one for a resumed run."""

    def __init__(self, cfg: Config | None = None, *, data: str | None = None, runs_dir: Path | str = "runs",
                 preset: str = "custom", device_name: str = "auto", sink: Sink | None = None,
                 control: RunControl | None = None, resume: Path | str | None = None,
                 epochs: int | None = None, dataset: Dataset | None = None):
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
        self.run_dir: Path | None = None
        self.summary: RunSummary | None = None

    # --- reporting ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.run_dir is not None:
            try:
                runs.append_event(self.run_dir, event)
            except OSError:
                pass  # the event log is for followers; a full disk must not stop the run here
        self.sink(event)

    def run(self) -> RunFinished | RunFailed:
        """Run to the end; never raises for problems a user can fix, reports RunFailed instead."""
        try:
            return self._run()
        except (RunError, DataError, CheckpointError, ConfigError, ValueError) as e:
            failed = RunFailed(str(e), str(self.run_dir) if self.run_dir else None)
        except OSError as e:
            failed = RunFailed(f"{e.filename or 'file system'}: {e.strerror or e}", str(self.run_dir) if self.run_dir else None)
        except Exception as e:  # noqa: BLE001 - anything else is a bug; keep its trace for the report
            where = self._save_traceback()
            failed = RunFailed(f"unexpected {type(e).__name__}: {e}" + (f" (traceback in {where})" if where else ""),
                               str(self.run_dir) if self.run_dir else None)
        self.emit(failed)
        if self.summary is not None:
            try:
                self._write_summary(state="failed", message=failed.message)
            except OSError:
                pass  # the disk that failed the run may refuse this too; events.jsonl has the message
        if self.run_dir is not None:
            runs.clear_live(self.run_dir)  # after the last event, so a follower reads it before the run looks dead
        return failed

    def _save_traceback(self) -> Path | None:
        if self.run_dir is None:
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
            runs.check_writable(self.runs_dir)
            self.run_dir = runs.new_run_dir(self.runs_dir, self.preset)
            runs.write_config(self.run_dir, self.cfg)
            self.data_source = locations.canonical_data(self.data_source or locations.default_data())
            self.summary = RunSummary(preset=self.preset, data=self.data_source, started_at=time.time())
            return None
        run_dir = self.resume_dir
        if not (run_dir / runs.CONFIG).is_file():
            raise RunError(f"{run_dir}: not a run folder (no {runs.CONFIG})")
        if (pid := runs.live_pid(run_dir)) is not None:
            raise RunError(f"{run_dir}: this run is still training (pid {pid}); stop it first")
        runs.check_writable(run_dir)
        self.cfg = runs.read_config(run_dir)
        try:
            self.summary = read_summary(run_dir) or RunSummary(preset=self.preset, started_at=time.time())
        except ValueError:
            self.summary = RunSummary(preset=self.preset, started_at=time.time())  # rewritten below
        if self.data_source is None:
            if self.summary.data is None:
                raise RunError(f"{run_dir} does not record the data it was trained on (an older run): "
                               f"give --data DIR or --data synthetic")
            self.data_source = self.summary.data
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
            runs.write_config(run_dir, self.cfg)
        for stale in (run_dir / "checkpoints").glob(".*.tmp*"):
            stale.unlink(missing_ok=True)  # left by a kill during a checkpoint write
        # A stop or pause that arrived after the last step was never read: it was for the old process.
        (run_dir / CONTROL_FILE).unlink(missing_ok=True)
        runs.truncate_metrics(run_dir, state["epoch"])
        return state

    def _run(self) -> RunFinished:
        started = time.perf_counter()
        state = self._prepare_run_dir()
        cfg = self.cfg
        place = device.resolve(self.device_name, cfg.run.precision)
        data = self.dataset or load_dataset(self.data_source)
        if state is not None and list(state["classes"]) != list(data.classes):
            raise RunError(f"{self.run_dir} was trained on classes {state['classes']}, but {data.source} has {data.classes}")
        runs.mark_live(self.run_dir)
        self.control.watch_file(self.run_dir)

        torch.manual_seed(cfg.run.seed)
        model = build_model(cfg.model.name, data.num_classes, cfg.model.widths or None, cfg.model.zero_gamma)
        if state is None and hasattr(model, "init_from_data"):
            # airbench's first conv whitens 2x2 patches: its weights come from the data, not from training.
            model.init_from_data(normalize(data.train_x[:WHITENING_IMAGES], cfg.data.mean, cfg.data.std))
        model = model.to(place.device, memory_format=place.memory_format)
        optimizer = build_optimizer(model, cfg.optimizer)
        train_x, train_y = data.train_x.to(place.device), data.train_y.to(place.device)
        batches = TrainBatches(train_x, train_y, cfg.augment, cfg.data.batch_size, cfg.data.mean, cfg.data.std,
                               data.num_classes, cfg.run.seed, place.device, place.bf16, torch.float32)
        steps = batches.steps_per_epoch
        total_steps = steps * cfg.run.epochs

        start_epoch, skip_steps, partial, last_test_acc = 0, 0, None, None
        self.best_acc, self.best_epoch = None, None
        if state is not None:
            try:
                model.load_state_dict(state.get("train_weights") or state["state_dict"])
                optimizer.load_state_dict(state["optimizer"])
            except (KeyError, ValueError, RuntimeError) as e:
                raise RunError(f"{self.run_dir}/checkpoints/last.pt does not fit this run's config.toml "
                               f"(model or optimizer changed?): {str(e).splitlines()[0][:120]}") from None
            torch.set_rng_state(state["rng"])
            start_epoch, skip_steps, partial = state["epoch"], state["step"], state.get("partial")
            self.best_acc, self.best_epoch = state.get("best_acc"), state.get("best_epoch")
            last_test_acc = state["metrics"].get("test_acc")
        # After the weights are loaded: an EMA switched on at resume starts from them, not from init.
        ema = WeightEMA(model, cfg.run.ema_decay) if cfg.run.ema_decay > 0 else None
        if ema is not None and state is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])

        parameters = count_parameters(model)
        self.emit(RunStarted(str(self.run_dir), cfg.to_dict(), place.describe(), place.precision,
                             parameters, steps, start_epoch, list(data.classes), time.time(), self.data_source))
        self._write_summary(device=place.describe(), precision=place.precision, parameters=parameters)
        common = {"format": checkpoints.FORMAT, "classes": list(data.classes), "mean": list(cfg.data.mean),
                  "std": list(cfg.data.std), "precision": place.precision, "config": cfg.to_dict(),
                  "model": {"name": cfg.model.name, "num_classes": data.num_classes,
                            "widths": list(cfg.model.widths), "zero_gamma": cfg.model.zero_gamma}}

        def eval_weights():
            return ema.swapped(model) if ema is not None else contextlib.nullcontext()

        def save_last(epoch_done: int, step: int, partial_sums: dict | None, metrics: dict) -> None:
            with eval_weights():
                eval_state = _cpu_state(model)
            payload = {**common, "state_dict": eval_state, "epoch": epoch_done, "step": step,
                       "partial": partial_sums, "metrics": metrics, "optimizer": optimizer.state_dict(),
                       "ema": ema.state_dict() if ema is not None else None, "rng": torch.get_rng_state(),
                       "best_acc": self.best_acc, "best_epoch": self.best_epoch}
            if ema is not None:
                payload["train_weights"] = _cpu_state(model)
            self._save(self.run_dir / "checkpoints" / "last.pt", payload, epoch_done, "last")

        stopped = False
        for epoch in range(start_epoch, cfg.run.epochs):
            model.train()
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=place.device)
            correct = torch.zeros((), device=place.device)
            seen, elapsed_before = 0, 0.0
            if partial and epoch == start_epoch:
                loss_sum += partial["loss_sum"]
                correct += partial["correct"]
                seen, elapsed_before = partial["seen"], partial["seconds"]
            seen_before = seen
            next_report = t0 + PROGRESS_INTERVAL_S
            lr = lr_at(cfg.schedule, cfg.optimizer.lr, epoch * steps, steps, total_steps)
            for step, batch in enumerate(batches.epoch(epoch)):
                if epoch == start_epoch and step < skip_steps:
                    continue  # resuming mid-epoch: the epoch's batches are a function of (seed, epoch)
                if self.control.paused and not self.control.stop_requested:
                    t0 += self._wait_paused(epoch + 1)  # paused time is not training time
                    next_report = time.perf_counter() + PROGRESS_INTERVAL_S
                if self.control.stop_requested:
                    sums = {"loss_sum": loss_sum.item(), "correct": correct.item(), "seen": seen,
                            "seconds": elapsed_before + time.perf_counter() - t0}
                    save_last(epoch, step, sums, {"test_acc": last_test_acc})
                    stopped = True
                    break
                lr = lr_at(cfg.schedule, cfg.optimizer.lr, epoch * steps + step, steps, total_steps)
                set_lr(optimizer, lr)
                with place.autocast():
                    logits = model(batch.inputs)
                    loss = mixed_loss(logits, batch, cfg.augment.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    ema.update(model)
                n = len(batch.targets_a)
                loss_sum += loss.detach() * n
                hits = logits.detach().argmax(-1)
                correct += (hits == batch.targets_a).sum() * batch.lam
                if batch.lam != 1.0:
                    correct += (hits == batch.targets_b).sum() * (1.0 - batch.lam)
                seen += n
                now = time.perf_counter()
                if now >= next_report:
                    next_report = now + PROGRESS_INTERVAL_S
                    running = loss_sum.item() / max(seen, 1)
                    self._check_finite(running, epoch + 1, step + 1, lr)
                    self.emit(BatchProgress(epoch + 1, step + 1, steps, running, lr,
                                            (seen - seen_before) / max(now - t0, 1e-9)))
            if stopped:
                break
            train_seconds = time.perf_counter() - t0
            train_loss = loss_sum.item() / max(seen, 1)
            self._check_finite(train_loss, epoch + 1, steps, lr)
            test_loss = test_acc = None
            if (epoch + 1) % cfg.run.eval_every == 0 or epoch + 1 == cfg.run.epochs:
                with eval_weights():
                    result = evaluate_model(model, data.test_x, data.test_y, cfg.data.mean, cfg.data.std,
                                            place, data.classes)
                test_loss, test_acc = result.loss, result.accuracy
                last_test_acc = test_acc
            # Capped so that a run shorter than best_after_epoch (a quick --epochs 1) still keeps a best.pt.
            is_best = (test_acc is not None and epoch + 1 > min(cfg.run.best_after_epoch, cfg.run.epochs - 1)
                       and (self.best_acc is None or test_acc > self.best_acc))
            ended = EpochEnded(epoch + 1, train_loss, correct.item() / max(seen, 1), test_loss, test_acc, lr,
                               elapsed_before + time.perf_counter() - t0,
                               (seen - seen_before) / max(train_seconds, 1e-9), is_best)
            # Row first, checkpoint second: a kill in between leaves a row that resume cuts off.
            runs.append_metrics(self.run_dir, ended)
            self.emit(ended)
            metrics = {"train_loss": ended.train_loss, "train_acc": ended.train_acc,
                       "test_loss": test_loss, "test_acc": test_acc}
            if is_best:
                self.best_acc, self.best_epoch = test_acc, epoch + 1
                with eval_weights():
                    best_payload = {**common, "state_dict": _cpu_state(model), "epoch": epoch + 1, "metrics": metrics}
                self._save(self.run_dir / "checkpoints" / "best.pt", best_payload, epoch + 1, "best")
            save_last(epoch + 1, 0, None, metrics)
            self._write_summary()
            partial = None

        final_acc = last_test_acc
        if not stopped and cfg.run.tta:
            with eval_weights():
                final_acc = evaluate_model(model, data.test_x, data.test_y, cfg.data.mean, cfg.data.std,
                                           place, data.classes, tta=True).accuracy
        epochs_done = len(runs.read_metrics(self.run_dir))
        finished = RunFinished(str(self.run_dir), self.best_acc, self.best_epoch, epochs_done,
                               time.perf_counter() - started, final_acc, stopped)
        self.emit(finished)
        self._write_summary(state="stopped" if stopped else "finished", final_acc=final_acc,
                            final_tta=bool(cfg.run.tta and not stopped))
        runs.clear_live(self.run_dir)
        return finished

    def _write_summary(self, **changes) -> None:
        """Rewrite summary.json: the given fields, and what metrics.csv says of the epochs so far."""
        s = self.summary
        for key, value in changes.items():
            setattr(s, key, value)
        done = runs.read_metrics(self.run_dir)
        best = next((m for m in reversed(done) if m.is_best), None)
        s.epochs_done, s.epochs_total = len(done), self.cfg.run.epochs
        s.best_acc, s.best_epoch = (best.test_acc, best.epoch) if best else (None, None)
        s.train_seconds = sum(m.seconds or 0.0 for m in done)
        s.images_per_s = (sum((m.images_per_s or 0.0) * (m.seconds or 0.0) for m in done) / s.train_seconds
                          if s.train_seconds > 0 else None)
        s.updated_at = time.time()
        write_summary(self.run_dir, s)

    def _save(self, path: Path, payload: dict, epoch: int, kind: str) -> None:
        try:
            checkpoints.save(path, payload)
        except OSError as e:
            raise RunError(f"could not write {path}: {e.strerror or e}; the previous {path.name} is kept") from None
        self.emit(CheckpointSaved(str(path), epoch, kind))

    def _check_finite(self, loss: float, epoch: int, step: int, lr: float) -> None:
        if not math.isfinite(loss):
            raise RunError(f"training diverged: the loss became {loss} by epoch {epoch}, step {step} "
                           f"(lr {lr:.3g}); lower optimizer.lr or add schedule.warmup_epochs. "
                           f"best.pt and the last good last.pt are kept")

    def _wait_paused(self, epoch: int) -> float:
        """Block while paused; returns the seconds spent."""
        start = time.perf_counter()
        self.emit(RunPaused(epoch, True))
        while self.control.paused and not self.control.stop_requested:
            self.control.wait_while_paused()
        self.emit(RunPaused(epoch, False))
        return time.perf_counter() - start


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
