"""The command line as a user meets it: exit codes and one-line errors, JSON output, eval."""
import json
import subprocess

import pytest

from tui_trainer.config import to_toml

from conftest import CLI, cli_env, one_line_error, run_cli, tiny_config


@pytest.mark.parametrize("args,needle", [
    (["train", "--preset", "nope"], "unknown preset 'nope' (available: "),
    (["train", "--preset", "cpu-quick", "--set", "optimizer.lr=-1"], "optimizer.lr = '-1' is invalid: expected a number from 1e-06 to 10"),
    (["train", "--preset", "cpu-quick", "--set", "optimizer.lrr=1"], "unknown key 'optimizer.lrr'"),
    (["train", "--preset", "cpu-quick", "--set", "lr"], "expected KEY=VALUE"),
    (["train", "--preset", "cpu-quick", "--epochs", "0"], "run.epochs = 0 is invalid"),
    (["train", "--preset", "cpu-quick", "--device", "tpu"], "--device 'tpu' is invalid"),
    (["train"], "--preset NAME|FILE is required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_exits_2_with_one_line(home, args, needle):
    assert needle in one_line_error(run_cli(home, *args), 2)


def test_broken_preset_files_name_the_file_line_and_field(home, tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[run]\nepochs = = 3\n")
    assert "line 2, column" in one_line_error(run_cli(home, "train", "--preset", str(bad_toml)), 2)
    bad_value = tmp_path / "range.toml"
    bad_value.write_text("[data]\nbatch_size = 0\n[model]\ncolour = 'red'\n")
    line = one_line_error(run_cli(home, "train", "--preset", str(bad_value)), 2)
    assert str(bad_value) in line and "data.batch_size = 0" in line and "'model.colour'" in line


def test_missing_data_offline_says_where_to_put_it(home, tmp_path):
    (tmp_path / "empty").mkdir()  # an empty folder is where CIFAR-10 would be downloaded (a missing one: exit 2)
    line = one_line_error(run_cli(home, "train", "--preset", "cpu-quick", "--data", str(tmp_path / "empty"),
                                  "--runs", str(tmp_path / "runs")), 1)
    assert "cifar-10-batches-py" in line and "--data" in line


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 100, b"[run]\nepochs = 3\n"])
def test_eval_of_unreadable_files_exits_1_with_one_line(home, tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    line = one_line_error(run_cli(home, "eval", str(path), "--data", "synthetic"), 1)
    assert str(path) in line


def test_train_json_then_eval_reports_the_recorded_accuracy(home, tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config()))
    proc = run_cli(home, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(tmp_path / "runs"), "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["epoch"] for line in lines[:-1]] == [1, 2]
    final = lines[-1]
    assert {"run_dir", "best_acc", "best_epoch", "epochs", "seconds"} <= set(final)
    assert 0.8 < final["best_acc"] <= 1 and final["epochs"] == 2

    proc = run_cli(home, "eval", f"{final['run_dir']}/checkpoints/best.pt", "--data", "synthetic", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["accuracy"] == final["best_acc"]
    assert {"accuracy", "per_class", "confusion", "n"} <= set(report) and report["n"] == 1000

    proc = run_cli(home, "runs", "--runs", str(tmp_path / "runs"))
    assert "-tiny" in proc.stdout and f"{final['best_acc']:.2%}" in proc.stdout


def test_presets_lists_builtins_with_descriptions(home):
    proc = run_cli(home, "presets")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert {"seed-notebook", "bag-of-tricks", "fast", "cpu-quick"} <= set(names)


@pytest.mark.parametrize("layout", ["synthetic", "cifar"])
def test_resume_and_eval_without_data_use_the_recorded_data(home, tmp_path, layout):
    """A run remembers its data: resume and eval need no --data, even from another folder."""
    if layout == "synthetic":
        data = "synthetic"
    else:
        from tui_trainer.data.synthetic import make_synthetic
        from tui_trainer.data.writers import write_cifar_batches
        write_cifar_batches(tmp_path / "cifar", make_synthetic(n_train=1000, n_test=300))
        data = "cifar"  # relative to tmp_path, where the run starts
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1})))
    first = subprocess.run([*CLI, "train", "--preset", str(preset), "--data", data, "--runs", "runs", "--json"],
                           cwd=tmp_path, capture_output=True, text=True, env=cli_env(home), timeout=240)
    assert first.returncode == 0, first.stderr
    run_dir = json.loads(first.stdout.splitlines()[-1])["run_dir"]
    run_dir = str(tmp_path / run_dir)
    recorded = json.loads((tmp_path / run_dir / "summary.json").read_text())["data"]
    assert recorded == ("synthetic" if layout == "synthetic" else str(tmp_path / "cifar"))

    resumed = run_cli(home, "train", "--resume", run_dir, "--epochs", "2")  # from the test's own cwd
    assert resumed.returncode == 0, resumed.stderr
    assert f"data: {recorded}" in resumed.stdout and "resuming after epoch 1" in resumed.stdout
    summary = json.loads((tmp_path / run_dir / "summary.json").read_text())
    assert summary["state"] == "finished" and summary["epochs_done"] == 2 and summary["best_acc"] > 0.5

    evaluated = run_cli(home, "eval", f"{run_dir}/checkpoints/best.pt", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] == summary["best_acc"]


def test_train_runs_the_notify_command_with_the_summary(home, tmp_path):
    received = tmp_path / "received.json"
    folder = home / ".config" / "tui-trainer"
    folder.mkdir(parents=True)
    (folder / "settings.toml").write_text(f'notify_command = "cat > {received}"\n')
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1})))
    proc = run_cli(home, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(tmp_path / "runs"),
                   "--json")
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.splitlines()[-1])
    payload = json.loads(received.read_text())
    assert payload["run_dir"] == final["run_dir"] and payload["state"] == "finished"
    assert payload["best_acc"] == final["best_acc"] and payload["event"]["event"] == "RunFinished"


def test_image_folders_are_decoded_with_progress_once_then_read_from_the_cache(home, tmp_path):
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.data.writers import write_image_folders

    write_image_folders(tmp_path / "folders", make_synthetic(n_train=300, n_test=100))
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1})))
    env = dict(cli_env(home), XDG_CACHE_HOME=str(tmp_path / "cache"))
    for first in (True, False):
        proc = subprocess.run([*CLI, "train", "--preset", str(preset), "--data", str(tmp_path / "folders"),
                               "--runs", str(tmp_path / "runs")], capture_output=True, text=True, env=env,
                              timeout=240)
        assert proc.returncode == 0, proc.stderr
        assert ("decoding 400 images" in proc.stderr) == first, proc.stderr


def test_a_refused_resume_says_why_in_one_line_and_leaves_the_run_as_it_was(home, tmp_path):
    from tui_trainer.config import Config
    from tui_trainer.workspace.fixtures import write_run_folder

    # Refusals a look at the folder can make are bad input (exit 2), as --resume of no run folder is.
    old = write_run_folder(tmp_path, "20240101-120000-old", Config(), [0.5], summary=False, checkpoint=b"PK")
    line = one_line_error(run_cli(home, "train", "--resume", str(old)), 2)
    assert "does not record the data it was trained on" in line and "--data" in line
    assert not (old / "summary.json").exists()

    done = write_run_folder(tmp_path, "20261201-120000-done", Config(), [0.5])
    before = (done / "summary.json").read_text()
    line = one_line_error(run_cli(home, "train", "--resume", str(done), "--data", "synthetic"), 2)
    assert "last.pt" in line
    assert "not a run folder" in one_line_error(run_cli(home, "train", "--resume", str(tmp_path / "missing")), 2)
    assert (done / "summary.json").read_text() == before  # still "finished", not "failed"
