"""The validation split (data.validation): seeded, stratified and disjoint from training; recorded
and drawn again the same on resume and eval; every choice (best.pt, early stopping, the pruner, a
study's objective) reads it while the test set only reports; and the settings it refuses."""
import json

import pytest
import torch

from tui_trainer.config import Config, to_toml
from tui_trainer.control import RunControl
from tui_trainer.data import DataError, Dataset, load_dataset
from tui_trainer.data.split import OWN_FOLDER, digest, held_out, largest_allowed, shares, with_validation
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.events import BatchProgress, EpochEnded, RunFailed, RunFinished, RunStarted
from tui_trainer.training import checkpoints
from tui_trainer.training.evaluate import evaluate_checkpoint
from tui_trainer.training.stopping import early_stopping
from tui_trainer.training.trainer import VALIDATION, Trainer
from tui_trainer.workspace import folder
from tui_trainer.workspace.summary import read_summary

from conftest import one_line_error, run_cli, tiny_config


def numbered(counts: list[int]) -> Dataset:
    """Training "images" that are their own index, so a split can be checked image by image."""
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(3))]
    n = len(labels)
    return Dataset(torch.arange(n).view(n, 1, 1, 1), labels, torch.zeros(1, 1, 1, 1), torch.zeros(1, dtype=torch.long),
                   [f"c{k}" for k in range(len(counts))], "numbered")


def held(n: int, seed: int = 0) -> Config:
    cfg = Config()
    cfg.set("data.validation", n)
    cfg.set("data.validation_seed", seed)
    return cfg


# --- the draw ---------------------------------------------------------------------------------

def test_the_split_is_stratified_disjoint_from_training_and_covers_it():
    data = numbered([500, 300, 150, 50])
    split = with_validation(data, held(100).data)
    val_ids, train_ids = set(split.val_x.flatten().tolist()), set(split.train_x.flatten().tolist())
    assert len(val_ids) == 100 and not val_ids & train_ids and val_ids | train_ids == set(range(1000))
    assert torch.bincount(split.val_y, minlength=4).tolist() == [50, 30, 15, 5]  # each class its share
    assert torch.equal(split.val_y, data.train_y[split.val_x.flatten()])  # labels travel with their images
    assert split.validation["per_class"] == [50, 30, 15, 5] and split.validation["source"] == "drawn"
    assert split.validation["digest"] == digest(split.val_x.flatten())
    assert shares([7, 7, 6], 10) == [4, 3, 3] and sum(shares([333, 333, 334], 100)) == 100


def test_the_draw_depends_on_its_seed_only():
    data = numbered([400, 400, 200])
    def ids(cfg):
        return with_validation(data, cfg.data).val_x.flatten().tolist()
    first = held(120)
    first.set("run.seed", 1)
    again = held(120)
    again.set("run.seed", 99)  # another training seed holds out the same images
    assert ids(first) == ids(again)
    assert ids(held(120, seed=1)) != ids(first)
    assert with_validation(data, Config().data).val_x is None  # 0: off


def test_a_split_that_would_empty_a_class_or_take_everything_is_refused_naming_the_range():
    labels = torch.tensor([0, 0, 0, 1])
    assert largest_allowed([3, 1]) == 2
    held_out(labels, 2, 0, 2)
    with pytest.raises(DataError, match=r"data\.validation = 3: allowed 0 \(off\) to 2 .*every class keeps"):
        held_out(labels, 3, 0, 2)
    with pytest.raises(DataError, match=r"data\.validation = 1000: allowed 0 \(off\) to 996"):
        with_validation(numbered([250] * 4), held(1000).data)


def test_too_large_a_split_is_one_line_before_any_run_folder(home, tmp_path):
    proc = run_cli(home, "train", "--preset", "cpu-quick", "--data", "synthetic", "--runs", str(tmp_path / "runs"),
                   "--set", "data.validation=5000")
    line = one_line_error(proc, 2)
    assert "data.validation = 5000" in line and "allowed 0 (off)" in line and "5,000 training images" in line
    assert not (tmp_path / "runs").exists()
    proc = run_cli(home, "train", "--preset", "cpu-quick", "--data", "synthetic", "--set", "data.validation=-1")
    assert "data.validation" in one_line_error(proc, 2)


def test_an_image_folder_s_val_folder_is_its_split(tmp_path):
    from tui_trainer.data.folders import read_image_folders
    from tui_trainer.data.writers import write_image_folders

    small = make_synthetic(n_train=60, n_test=30)
    write_image_folders(tmp_path / "imgs", small)
    extra = make_synthetic(n_train=40, n_test=10, seed=5)
    write_image_folders(tmp_path / "val-src", Dataset(extra.train_x, extra.train_y, extra.test_x, extra.test_y,
                                                        small.classes, "x"))
    (tmp_path / "val-src" / "train").rename(tmp_path / "imgs" / "val")
    for attempt in ("decoded", "cached"):
        data = read_image_folders(tmp_path / "imgs")
        assert len(data.val_y) == 40 and len(data.train_y) == 60, attempt
    split = with_validation(data, held(5).data)  # the number only turns it on
    assert split.validation["source"] == OWN_FOLDER and split.validation["images"] == 40
    assert len(split.train_y) == 60  # nothing drawn out of training
    assert with_validation(data, Config().data).val_x is None


# --- choices --------------------------------------------------------------------------------

def epoch(n, test, val):
    return EpochEnded(n, 1.0, 0.5, 1.0, test, 0.1, 1.0, 100.0, False, 1.0, val)


def test_early_stopping_reads_validation_when_held_out():
    # Test accuracy keeps rising; validation peaked at epoch 1: patience 2 ends it at epoch 3.
    history = [epoch(1, 0.50, 0.70), epoch(2, 0.60, 0.65), epoch(3, 0.70, 0.66)]
    verdict = early_stopping(2, 0.0)(history)
    assert verdict is not None and "best validation 70.00% at epoch 1" in verdict.message
    on_test = [EpochEnded(m.epoch, 1.0, 0.5, 1.0, m.test_acc, 0.1, 1.0, 100.0, False) for m in history]
    assert early_stopping(2, 0.0)(on_test) is None  # without a split the rising test accuracy goes on


def test_the_pruner_is_told_validation_accuracy():
    import optuna

    from tui_trainer.search.worker import pruning_rule

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    rule = pruning_rule(trial)
    history = []
    for m in (epoch(1, 0.50, 0.70), epoch(2, 0.60, 0.65)):
        history.append(m)
        assert rule(history) is None
    study.tell(trial, 0.65)
    assert study.trials[0].intermediate_values == {1: 0.70, 2: 0.65}


def shifted(data: Dataset) -> Dataset:
    """The test images as a validation split whose every label is off by one: its accuracy falls as
    the model learns while the test accuracy rises, so the two choose different epochs."""
    return Dataset(data.train_x, data.train_y, data.test_x, data.test_y, data.classes, data.source,
                   val_x=data.test_x.clone(), val_y=(data.test_y + 1) % len(data.classes))


def test_best_pt_is_the_epoch_validation_chose_and_the_test_set_only_reports(tmp_path):
    synthetic = load_dataset("synthetic")
    cfg = tiny_config(**{"run.epochs": 3, "data.validation": 1, "run.precision": "fp32"})
    result = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "runs", dataset=shifted(synthetic)).run()
    assert isinstance(result, RunFinished), result
    rows = folder.read_metrics(folder.Path(result.run_dir))
    assert all(m.val_acc is not None and m.test_acc is not None for m in rows)
    running = [m.val_acc > max([r.val_acc for r in rows[:i]], default=-1) for i, m in enumerate(rows)]
    assert [m.is_best for m in rows] == running  # the running best of validation, not of test
    chosen = max(rows, key=lambda m: (m.val_acc, -m.epoch))
    assert rows[-1].test_acc > 0.8 and result.best_epoch == chosen.epoch
    assert (result.best_acc, result.best_val_acc) == (chosen.test_acc, chosen.val_acc)
    best = checkpoints.load(folder.Path(result.run_dir) / "checkpoints" / "best.pt")
    assert best["epoch"] == chosen.epoch and best["metrics"]["val_acc"] == chosen.val_acc
    summary = read_summary(result.run_dir)
    assert (summary.best_val_acc, summary.best_val_epoch, summary.best_acc) == (chosen.val_acc, chosen.epoch,
                                                                                chosen.test_acc)
    assert summary.validation == len(synthetic.test_y) and summary.val_acc == rows[-1].val_acc


def _stop_in_epoch_2(control, started):
    def sink(event):
        if isinstance(event, RunStarted):
            started.append(event)
        if isinstance(event, BatchProgress) and event.epoch == 2:
            control.request_stop()
    return sink


def test_a_drawn_split_is_recorded_resumed_the_same_and_evaluated_again_by_eval(tmp_path, home):
    synthetic = load_dataset("synthetic")
    cfg = tiny_config(**{"run.epochs": 3, "data.validation": 500, "run.precision": "fp32"})
    control, started = RunControl(), []
    stopped = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "runs", control=control, dataset=synthetic,
                      sink=_stop_in_epoch_2(control, started)).run()
    assert isinstance(stopped, RunFinished) and stopped.stopped
    run_dir = folder.Path(stopped.run_dir)
    recorded = json.loads((run_dir / VALIDATION).read_text())
    assert recorded["images"] == 500 and recorded["per_class"] == [50] * 10
    assert started[0].steps_per_epoch == (5000 - 500) // 64  # trained without the held-out images

    resumed_started = []
    resumed = Trainer(data="synthetic", resume=run_dir, dataset=synthetic,
                      sink=lambda e: resumed_started.append(e) if isinstance(e, RunStarted) else None).run()
    assert isinstance(resumed, RunFinished) and not resumed.stopped, resumed
    assert resumed_started[0].validation == recorded == json.loads((run_dir / VALIDATION).read_text())
    rows = folder.read_metrics(run_dir)
    assert [m.epoch for m in rows] == [1, 2, 3] and all(m.val_acc is not None for m in rows)
    assert resumed.best_val_acc == max(m.val_acc for m in rows) > 0.8

    # eval --split val draws the same 500 images again: best.pt scores what the run recorded for it.
    best = run_dir / "checkpoints" / "best.pt"
    again = evaluate_checkpoint(best, "synthetic", dataset=synthetic, split="val")
    assert again.n == 500 and abs(again.accuracy - resumed.best_val_acc) <= 1 / 500
    proc = run_cli(home, "eval", str(best), "--split", "val", "--json")
    assert proc.returncode == 0, proc.stderr
    assert abs(json.loads(proc.stdout)["accuracy"] - resumed.best_val_acc) <= 1 / 500

    # A run whose split would now be other images (its seed edited) is not resumed onto them.
    changed = folder.read_config(run_dir)
    changed.set("data.validation_seed", 7)
    changed.set("run.epochs", 4)
    folder.write_config(run_dir, changed)
    refused = Trainer(data="synthetic", resume=run_dir, dataset=synthetic).run()
    assert isinstance(refused, RunFailed) and "trained with validation: 500 training images held out (seed 0)" \
        in refused.message and "(seed 7)" in refused.message


def test_a_run_without_a_split_chooses_on_test_as_before(tmp_path):
    result = Trainer(tiny_config(), data="synthetic", runs_dir=tmp_path / "runs",
                     dataset=load_dataset("synthetic")).run()
    rows = folder.read_metrics(folder.Path(result.run_dir))
    assert all(m.val_acc is None for m in rows) and result.best_val_acc is None
    assert result.best_acc == max(m.test_acc for m in rows)
    assert not (folder.Path(result.run_dir) / VALIDATION).exists()
    assert read_summary(result.run_dir).validation == 0


def test_a_metrics_file_from_before_validation_reads(tmp_path):
    (tmp_path / folder.METRICS).write_text("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_s,"
                                           "is_best\n1,1.0,0.5,0.9,0.6,0.1,2.0,100.0,True\n")
    (row,) = folder.read_metrics(tmp_path)
    assert row.test_acc == 0.6 and row.val_acc is None and row.chosen_acc == 0.6


def test_seed_notebook_keeps_its_test_set_choice_and_says_so():
    from tui_trainer import presets

    notebook = presets.find("seed-notebook")
    assert notebook.load().data.validation == 0 and "chosen on the test set" in notebook.description()
    assert "validation = 0" in to_toml(notebook.load())
