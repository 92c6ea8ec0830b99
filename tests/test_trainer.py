"""The engine end to end on generated data: it learns, it writes a complete run folder, its
checkpoints evaluate to what it recorded, and stop/resume continue exactly."""
import math

import pytest

from tui_trainer.control import RunControl
from tui_trainer.data import load_dataset
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSample,
)
from tui_trainer.training import checkpoints
from tui_trainer.training.device import cpu_has_fast_bf16
from tui_trainer.training.evaluate import evaluate_checkpoint
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import folder
from tui_trainer.workspace.listing import read_row

from conftest import tiny_config


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def train(cfg, tmp_path, synthetic, **kw):
    events = []
    result = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "runs", preset="tiny", sink=events.append,
                     dataset=synthetic, **kw).run()
    return result, events


def test_short_run_learns_and_writes_a_complete_run_folder(tmp_path, synthetic):
    result, events = train(tiny_config(), tmp_path, synthetic)
    assert isinstance(result, RunFinished), result
    assert result.best_acc > 0.8  # chance is 0.1
    run_dir = folder.Path(result.run_dir)
    assert run_dir.name.endswith("-tiny")
    assert [type(e) for e in events[:1]] == [RunStarted]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[-1].train_acc > 0.5 and epochs[-1].images_per_s > 0
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress and all(0 <= e.train_acc <= 1 for e in progress)
    system = [e for e in events if isinstance(e, SystemSample)]  # for viewers in other processes
    assert system and system[0].rss > 0 and 0 < system[0].ram_used <= system[0].ram_total
    saved = {(e.kind, e.epoch) for e in events if isinstance(e, CheckpointSaved)}
    assert ("last", 2) in saved and ("best", result.best_epoch) in saved
    assert folder.read_metrics(run_dir) == epochs
    assert folder.read_config(run_dir) == tiny_config()
    replayed, _ = folder.read_events(run_dir)
    assert replayed == events
    assert not (run_dir / folder.LIVE).exists()


def test_best_checkpoint_evaluates_to_the_recorded_accuracy(tmp_path, synthetic):
    result, _ = train(tiny_config(**{"run.ema_decay": 0.9}), tmp_path, synthetic)
    run_dir = folder.Path(result.run_dir)
    recorded = {m.epoch: m.test_acc for m in folder.read_metrics(run_dir)}
    payload = checkpoints.load(run_dir / "checkpoints" / "best.pt")
    assert payload["epoch"] == result.best_epoch
    evaluated = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", "synthetic", dataset=synthetic)
    assert evaluated.accuracy == recorded[result.best_epoch]
    assert evaluated.n == len(synthetic.test_y)
    assert sum(map(sum, evaluated.confusion)) == evaluated.n


def test_best_is_kept_only_after_the_configured_epoch(tmp_path, synthetic):
    result, events = train(tiny_config(**{"run.best_after_epoch": 1, "run.epochs": 2}), tmp_path, synthetic)
    assert result.best_epoch == 2
    assert [e.is_best for e in events if isinstance(e, EpochEnded)] == [False, True]


def test_eval_every_skips_test_evaluations_but_not_the_last(tmp_path, synthetic):
    result, events = train(tiny_config(**{"run.eval_every": 2, "run.epochs": 3}), tmp_path, synthetic)
    assert [e.test_acc is None for e in events if isinstance(e, EpochEnded)] == [True, False, False]


def _stop_after(control, steps):
    seen = []

    def sink(event):
        if isinstance(event, BatchProgress):
            seen.append(event)
            if event.step >= steps or event.epoch > 1:
                control.request_stop()
    return sink


MUON = {"optimizer.name": "muon", "optimizer.lr": 0.05, "optimizer.muon_lr": 0.05}


@pytest.mark.parametrize("precision,optimizer", [("fp32", {}), ("bf16", {}), ("bf16", MUON)],
                         ids=["fp32", "bf16", "bf16-muon"])
def test_stop_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, precision, optimizer):
    # A narrow net on fewer images: bf16 is emulated, about 10x slower, on CPUs without AVX-512 bf16
    # (half the images again there).
    emulated = precision == "bf16" and not cpu_has_fast_bf16()
    synthetic = make_synthetic(n_train=1024 if emulated else 2048, n_test=500)
    cfg = tiny_config(**{"run.precision": precision, "augment.mixup_alpha": 0.4, "model.widths": [8, 16, 32],
                         **optimizer})
    straight, _ = train(cfg, tmp_path / "a", synthetic)
    assert straight.best_acc > 0.8  # chance is 0.1

    control = RunControl()
    stopped = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "b", preset="tiny", sink=_stop_after(control, 20),
                      control=control, dataset=synthetic).run()
    assert isinstance(stopped, RunFinished) and stopped.stopped
    state = checkpoints.load(folder.Path(stopped.run_dir) / "checkpoints" / "last.pt")
    assert state["step"] > 0 or state["epoch"] > 0
    resumed = Trainer(data="synthetic", resume=stopped.run_dir, sink=lambda e: None, dataset=synthetic).run()
    assert isinstance(resumed, RunFinished) and not resumed.stopped

    a = folder.read_metrics(folder.Path(straight.run_dir))
    b = folder.read_metrics(folder.Path(resumed.run_dir))
    assert [m.epoch for m in b] == [1, 2]
    for x, y in zip(a, b):
        assert math.isclose(x.train_loss, y.train_loss, rel_tol=1e-4, abs_tol=1e-5)
        assert math.isclose(x.test_loss, y.test_loss, rel_tol=1e-4, abs_tol=1e-5)
        assert abs(x.test_acc - y.test_acc) <= 0.002


def test_resume_can_extend_a_finished_run(tmp_path, synthetic):
    first, _ = train(tiny_config(**{"run.epochs": 1}), tmp_path, synthetic)
    # A stop sent after the old process's last step must not stop the resumed one.
    (folder.Path(first.run_dir) / "control").write_text("stop")
    events = []
    more = Trainer(data="synthetic", resume=first.run_dir, epochs=2, sink=events.append, dataset=synthetic).run()
    assert isinstance(more, RunFinished)
    assert [m.epoch for m in folder.read_metrics(folder.Path(first.run_dir))] == [1, 2]
    assert events[0].start_epoch == 1
    too_few = Trainer(data="synthetic", resume=first.run_dir, epochs=1, dataset=synthetic).run()
    assert isinstance(too_few, RunFailed) and "has done 2 epochs" in too_few.message
    assert folder.read_config(folder.Path(first.run_dir)).run.epochs == 2


def test_divergence_stops_with_a_hint_and_keeps_the_last_good_checkpoints(tmp_path, synthetic):
    good, _ = train(tiny_config(**{"run.epochs": 1, "optimizer.name": "sgd", "optimizer.lr": 0.05}), tmp_path, synthetic)
    run_dir = folder.Path(good.run_dir)
    # The same run, continued with a learning rate no network survives.
    cfg = folder.read_config(run_dir)
    for key, value in {"optimizer.lr": 10.0, "schedule.name": "constant"}.items():
        cfg.set(key, value)
    folder.write_config(run_dir, cfg)
    result = Trainer(data="synthetic", resume=run_dir, epochs=3, dataset=synthetic).run()
    assert isinstance(result, RunFailed)
    assert "diverged" in result.message and "by epoch 2, step" in result.message and "lower optimizer.lr" in result.message
    assert checkpoints.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 1
    assert checkpoints.load(run_dir / "checkpoints" / "best.pt")["epoch"] == 1
    assert [m.epoch for m in folder.read_metrics(run_dir)] == [1]


def test_pause_then_resume_continues(tmp_path, synthetic):
    import threading
    control = RunControl()
    events = []

    def sink(e):
        events.append(e)
        if isinstance(e, BatchProgress) and len(events) < 4:
            control.pause()
            threading.Timer(0.3, control.resume).start()

    result = Trainer(tiny_config(**{"run.epochs": 1}), data="synthetic", runs_dir=tmp_path, sink=sink,
                     control=control, dataset=synthetic).run()
    assert isinstance(result, RunFinished) and not result.stopped
    kinds = [type(e).__name__ for e in events]
    assert "RunPaused" in kinds


def test_unwritable_runs_folder_is_reported_before_training(tmp_path, synthetic):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = Trainer(tiny_config(), data="synthetic", runs_dir=blocker / "runs", sink=lambda e: None,
                     dataset=synthetic).run()
    assert isinstance(result, RunFailed) and "not writable" in result.message and result.run_dir is None


def test_the_listed_best_is_what_best_pt_holds(tmp_path):
    run_dir = tmp_path / "20261129-101500-x"
    run_dir.mkdir()
    folder.write_config(run_dir, tiny_config(**{"run.best_after_epoch": 1}))
    # Epoch 1 scored higher but came before best_after_epoch, so best.pt is epoch 2.
    for epoch, acc, best in ((1, 0.61, False), (2, 0.60, True), (3, 0.55, False)):
        folder.append_metrics(run_dir, EpochEnded(epoch, 1.0, 0.5, 1.0, acc, 0.1, 1.0, 100.0, best))
    info = read_row(run_dir)  # a run from before summary.json: from its metrics.csv
    assert (info.best_acc, info.best_epoch, info.epochs_done, info.preset) == (0.60, 2, 3, "x")


def test_early_stopping_ends_the_run_as_a_normal_finish(tmp_path, synthetic):
    from tui_trainer.cli.train_output import Reporter, finish_lines
    from tui_trainer.workspace.summary import read_summary

    # A gain of half the accuracy scale never comes: the run stops once patience runs out.
    cfg = tiny_config(**{"run.epochs": 5, "run.early_stop_patience": 1, "run.early_stop_min_delta": 0.5})
    result, events = train(cfg, tmp_path, synthetic)
    assert isinstance(result, RunFinished) and not result.stopped
    assert result.state == "stopped early" and result.epochs == 2
    assert result.ended.startswith("stopped early at epoch 2 (best ") and f"at epoch {result.best_epoch})" in result.ended
    run_dir = tmp_path / "runs" / next((tmp_path / "runs").iterdir()).name
    assert (run_dir / "checkpoints" / "best.pt").is_file() and (run_dir / "checkpoints" / "last.pt").is_file()
    summary = read_summary(run_dir)
    assert summary.state == "stopped early" and summary.message == result.ended and summary.epochs_done == 2
    assert Reporter().exit_code(result) == 0
    assert not any("resume" in line for line in finish_lines(result))
    assert read_row(run_dir).state == "stopped early"


def test_early_stopping_rule_counts_epochs_since_the_last_real_gain():
    from tui_trainer.training.stopping import early_stopping

    def history(*accs):
        return [EpochEnded(i + 1, 1.0, 0.5, None if a is None else 1.0, a, 0.1, 1.0, 100.0, False)
                for i, a in enumerate(accs)]

    rule = early_stopping(patience=2, min_delta=0.01)
    assert rule(history(0.5, 0.6, 0.605)) is None  # one epoch without a real gain
    verdict = rule(history(0.5, 0.6, 0.605, 0.609))  # two: 0.605 and 0.609 are under 0.6 + 0.01
    assert verdict.state == "stopped early" and verdict.message == "stopped early at epoch 4 (best 60.90% at epoch 4)"
    assert rule(history(0.5, 0.6, None, 0.7)) is None  # an unevaluated epoch is not a judgement
    assert rule(history(None, None)) is None


def test_tta_on_the_least_confident_share_keeps_the_plain_answer_elsewhere(tmp_path, synthetic):
    from tui_trainer.training import device
    from tui_trainer.training.evaluate import evaluate_model, tta_accuracy

    cfg = tiny_config(**{"run.tta": True, "run.tta_share": 0.25, "run.precision": "fp32"})
    result, _ = train(cfg, tmp_path, synthetic)
    assert isinstance(result, RunFinished) and result.final_acc > 0.8  # chance is 0.1
    model = checkpoints.model_from_checkpoint(checkpoints.load(folder.Path(result.run_dir) / "checkpoints" / "last.pt"))
    place = device.resolve("cpu", "fp32")
    args = (synthetic.test_x, synthetic.test_y, cfg.data.mean, cfg.data.std, place)
    plain = evaluate_model(model, *args, synthetic.classes)
    full = evaluate_model(model, *args, synthetic.classes, tta=True)
    assert abs(tta_accuracy(model, *args, plain, 1.0) - full.accuracy) < 1e-9  # share 1: every image
    # By hand: the six views' answer for the quarter least sure under one view, the plain one elsewhere.
    n = len(plain.labels)
    unsure = set(sorted(range(n), key=lambda i: plain.confidence[i])[:n // 4])
    answers = [full.predicted[i] if i in unsure else plain.predicted[i] for i in range(n)]
    expected = sum(a == t for a, t in zip(answers, plain.labels)) / n
    # One image's answer may differ: the quarter is evaluated in other batches (other rounding).
    assert abs(tta_accuracy(model, *args, plain, 0.25) - expected) <= 1.5 / n
    assert abs(result.final_acc - expected) <= 1.5 / n  # what the run reported
