"""Optuna studies for real: worker processes on a journal storage, grid points once each, the median
pruner, a worker killed mid-trial, a diverging trial, and study files that are refused at once."""
import json
import os
import signal
import subprocess
import time

import pytest

from tui_trainer.cli import main
from tui_trainer.config import ConfigError, to_toml
from tui_trainer.search.lead import SearchPlaces, find_study, open_study
from tui_trainer.search.study_file import load_study
from tui_trainer.search.trials import report
from tui_trainer.search.worker import Worker
from tui_trainer.workspace import folder
from tui_trainer.workspace.summary import read_summary

from conftest import CLI, cli_env, tiny_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """1,000 synthetic images as CIFAR batches: trials of a second or two an epoch."""
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.data.writers import write_cifar_batches

    root = tmp_path_factory.mktemp("data")
    write_cifar_batches(root, make_synthetic(n_train=1000, n_test=400))
    return str(root)


def study_file(tmp_path, space: str, *, name="s", sets=None, **top) -> str:
    """A study over the tests' tiny seed_cnn config (a few seconds an epoch), holding out 200 of its
    1,000 training images (a study's default 5,000 would be more than there are)."""
    top.setdefault("validation", 200)
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 2, "run.eval_every": 1, "model.widths": [8, 16, 16]})))
    lines = [f'preset = "{preset}"', f'name = "{name}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["[set]", *(f'"{k}" = {json.dumps(v)}' for k, v in (sets or {}).items()), "[space]", space]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_two_workers_run_six_distinct_trials_and_the_best_is_chosen_on_validation(home, tmp_path, data, capsys):
    path = study_file(tmp_path, '"optimizer.lr" = { low = 5e-4, high = 5e-3, log = true }', trials=6,
                      sampler="random", objective="final_acc", pruner="none")
    code = main(["search", path, "--workers", "2", "--data", data, "--runs", str(tmp_path / "runs"), "--json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, out
    trials, final = out[:-1], out[-1]
    assert sorted(t["trial"] for t in trials) == list(range(6))
    assert all(t["state"] == "complete" for t in trials) and len({t["run_dir"] for t in trials}) == 6
    assert len({t["params"]["optimizer.lr"] for t in trials}) == 6
    assert final["complete"] == 6 and final["pruned"] == final["failed"] == 0
    # The study's best is the run's own record: final_acc without TTA is the last epoch's accuracy on
    # the 200 held-out training images; the test accuracy goes beside it and ranks nothing.
    best_dir = folder.Path(final["best_run_dir"])
    last = folder.read_metrics(best_dir)[-1]
    assert final["chosen_on"] == "validation"
    assert final["best_value"] == last.val_acc == max(t["value"] for t in trials)
    assert final["best_test_acc"] == last.test_acc
    assert all(t["test_acc"] == folder.read_metrics(folder.Path(t["run_dir"]))[-1].test_acc for t in trials)
    assert final["best_value"] > 0.3  # chance is 0.1
    listed = json.loads(subprocess.run([*CLI, "runs", "--runs", str(tmp_path / "runs"), "--json"], capture_output=True,
                                       text=True, env=cli_env(home), check=True).stdout)
    record = next(r for r in listed if r["run_dir"] == str(best_dir))
    assert (record["val_acc"], record["final_acc"], record["validation"]) == (last.val_acc, last.test_acc, 200)
    summary = read_summary(best_dir)
    assert summary.study == "s" and summary.trial == final["best_trial"]
    assert summary.config["optimizer.lr"] == final["best_params"]["optimizer.lr"]
    logs = [(tmp_path / "runs" / "studies" / "s" / f"worker-{i}.log").read_text() for i in (0, 1)]
    assert all("trial" in log for log in logs)  # both workers took trials


def test_a_grid_covers_every_point_once_and_the_median_pruner_stops_hopeless_trials(home, tmp_path, data, capsys):
    # lr 1e-6 cannot learn in two epochs: once one good trial is complete, its first epoch is pruned.
    path = study_file(tmp_path, '"optimizer.lr" = { values = [2e-3, 1e-6] }\n"run.seed" = { values = [1, 2] }',
                      name="g", sampler="grid", pruner="median", pruner_startup_trials=1, pruner_warmup_epochs=0)
    # One worker: the good points (enqueued first) are complete before a hopeless one is judged.
    code = main(["search", path, "--workers", "1", "--data", data, "--runs", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr()
    places = SearchPlaces(load_study(path), tmp_path / "runs", None)
    rows = report(find_study(places), places.spec).rows
    points = sorted((r.params["optimizer.lr"], r.params["run.seed"]) for r in rows)
    assert points == sorted([(2e-3, 1), (2e-3, 2), (1e-6, 1), (1e-6, 2)])
    pruned = [r for r in rows if r.state == "pruned"]
    assert pruned and all(r.params["optimizer.lr"] == 1e-6 for r in pruned)
    assert all(read_summary(folder.Path(r.run_dir)).state == "pruned" for r in pruned)
    assert all(r.state == "complete" for r in rows if r.params["optimizer.lr"] == 2e-3)


def test_a_worker_killed_mid_trial_leaves_it_failed_and_the_study_goes_on(home, tmp_path, data):
    path = study_file(tmp_path, '"optimizer.lr" = { choices = [2e-3] }', name="k", trials=2, pruner="none",
                      sets={"run.epochs": 4})
    runs_dir = tmp_path / "runs"
    places = SearchPlaces(load_study(path), runs_dir, None)
    open_study(places)
    env = cli_env(home)
    worker = subprocess.Popen([*CLI, "search", path, "--worker", "0", "--data", data, "--runs", str(runs_dir)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # until its first trial has trained an epoch
        rows = report(find_study(places), places.spec).rows
        if rows and rows[0].run_dir and folder.read_metrics(folder.Path(rows[0].run_dir)):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker never finished an epoch")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    # The next worker marks the dead worker's trial failed and trains the rest of the budget.
    done = Worker(places.spec, places.storage(), places.folder, runs=runs_dir, data=data, device="cpu",
                  index=1, say=lambda line: None).run()
    rows = report(find_study(places), places.spec).rows
    assert done == 1 and [r.state for r in rows] == ["failed", "complete"]
    assert rows[0].message == f"its worker (pid {worker.pid}) died"


def test_a_diverging_trial_is_failed_with_its_message_not_a_crash(home, tmp_path, data):
    path = study_file(tmp_path, '"optimizer.lr" = { choices = [10.0] }', name="nan", trials=1, pruner="none",
                      sets={"optimizer.name": "sgd", "schedule.name": "constant", "run.epochs": 2})
    places = SearchPlaces(load_study(path), tmp_path / "runs", None)
    open_study(places)
    Worker(places.spec, places.storage(), places.folder, runs=tmp_path / "runs", data=data, device="cpu",
           say=lambda line: None).run()
    (row,) = report(find_study(places), places.spec).rows
    assert row.state == "failed" and "training diverged" in row.message


@pytest.mark.parametrize("text,needle", [
    ('preset = "cpu-quick"\ntrials = 2\n[space]\n"optimizer.lrr" = { low = 0.1, high = 1 }', "unknown key 'optimizer.lrr'"),
    ('preset = "cpu-quick"\ntrials = 2\n[space]\n"optimizer.lr" = { low = 1.0, high = 0.1 }',
     "space.optimizer.lr: low = 1 must be below high = 0.1"),
    ('preset = "cpu-quick"\ntrials = 2\n[space]\n"optimizer.lr" = { low = 0.1, high = 0.1 }', "must be below high"),
    ('preset = "cpu-quick"\ntrials = 2\n[space]\n"optimizer.lr" = { low = 0.1, high = 50 }',
     "optimizer.lr = 50 is invalid: expected a number from 1e-06 to 10"),
    ('preset = "cpu-quick"\ntrials = 2\n[space]\n"model.name" = { choices = ["airbench", "vgg"] }',
     "model.name = 'vgg' is invalid: expected one of seed_cnn"),
    ('preset = "cpu-quick"\ntrials = 2\nsampler = "grid"\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }',
     "a grid study takes values = [...]"),
    ('preset = "cpu-quick"\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }', "no budget"),
    ('preset = "cpu-quick"\ntrials = 2\nsampler = "bayes"\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }',
     "sampler = 'bayes' is invalid: expected one of tpe, random, grid"),
    ('preset = "cpu-quick"\ntrials = 2\n[set]\n"run.epochs" = 0\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }',
     "run.epochs = 0 is invalid"),
    ('preset = "cpu-quick"\ntrials = 2\ncolour = "red"\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }',
     "unknown key 'colour'"),
    ('preset = "cpu-quick"\ntrials = = 2\n', "not valid TOML"),
    ('preset = "cpu-quick"\ntrials = 2\nvalidation = -5\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }',
     "validation = -5 is invalid: expected an integer from 0"),
    (('preset = "cpu-quick"\ntrials = 2\nvalidation = 100\n[set]\n"data.validation" = 200\n[space]\n'
      '"optimizer.lr" = { low = 0.1, high = 1 }'), "validation and [set] \"data.validation\" both given"),
    ('preset = "nope"\ntrials = 2\n[space]\n"optimizer.lr" = { low = 0.1, high = 1 }', "unknown preset 'nope'"),
])
def test_bad_study_files_exit_2_with_one_line_naming_the_key(home, tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert needle in str(caught.value) and len(caught.value.problems) == 1
    proc = subprocess.run([*CLI, "search", str(path), "--runs", str(tmp_path / "runs")], capture_output=True, text=True,
                          env=cli_env(home), timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_unusable_storage_is_one_line(home, tmp_path):
    path = study_file(tmp_path, '"optimizer.lr" = { low = 1e-3, high = 1e-2 }', trials=1)
    for url, needle in [("sqlite:////nonexistent/folder/x.db", "cannot open it"), ("redis://localhost/0", "unknown kind")]:
        proc = subprocess.run([*CLI, "search", path, "--storage", url, "--runs", str(tmp_path / "runs")],
                              capture_output=True, text=True, env=cli_env(home), timeout=60)
        assert proc.returncode == 1 and needle in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_trial_of_two_seeds_is_their_mean_and_a_hopeless_one_is_pruned_in_its_first(home, tmp_path, data, capsys):
    path = study_file(tmp_path, '"optimizer.lr" = { values = [2e-3, 1e-6] }', name="two", sampler="grid",
                      pruner="median", pruner_startup_trials=1, pruner_warmup_epochs=0, seeds=2)
    code = main(["search", path, "--workers", "1", "--data", data, "--runs", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr()
    places = SearchPlaces(load_study(path), tmp_path / "runs", None)
    study = find_study(places)
    rows = {r.params["optimizer.lr"]: r for r in report(study, places.spec).rows}
    good, hopeless = rows[2e-3], rows[1e-6]
    assert good.state == "complete" and len(good.run_dirs) == 2 and len(good.values) == 2
    last = [folder.read_metrics(folder.Path(d))[-1] for d in good.run_dirs]
    assert [read_summary(folder.Path(d)).config["run.seed"] for d in good.run_dirs] == [1, 2]
    assert good.values == [m.val_acc for m in last] and good.value == pytest.approx(sum(good.values) / 2)
    assert good.test_acc == pytest.approx(sum(m.test_acc for m in last) / 2)
    trial = next(t for t in study.get_trials() if t.number == good.number)
    # seed 2's epochs follow seed 1's (a run's last epoch ends it unjudged: epochs 1 of 2 report)
    assert sorted(trial.intermediate_values) == [1, 3]
    first_epochs = [folder.read_metrics(folder.Path(d))[0].val_acc for d in good.run_dirs]
    assert trial.intermediate_values[3] == pytest.approx(sum(first_epochs) / 2)  # the seeds' mean at epoch 1
    assert hopeless.state == "pruned" and len(hopeless.run_dirs) == 1  # stopped in its first seed
    assert good.spread is not None and capsys.readouterr().out.count(" ± ") >= 1
