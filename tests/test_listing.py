"""Listing a runs folder: summaries, old runs without one, broken folders, the change cache, and
the CLI's runs / note / tag commands."""
import csv
import io
import json
import os
import subprocess
import sys

import pytest

from tui_trainer.config import Config
from tui_trainer.workspace import folder
from tui_trainer.workspace.fixtures import write_run_folder
from tui_trainer.workspace.listing import Listing, list_rows
from tui_trainer.workspace.notes import Notes

from conftest import CLI, cli_env, tiny_config


def config(**settings) -> Config:
    cfg = Config()
    for key, value in settings.items():
        cfg.set(key, value)
    return cfg


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "runs"
    write_run_folder(root, "20261201-100000-cpu-quick", config(**{"optimizer.lr": 0.5}), [0.5, 0.7, 0.8],
                     preset="cpu-quick", notes=Notes("first try", ["baseline"]))
    write_run_folder(root, "20261201-100000-cpu-quick-1", config(**{"optimizer.lr": 1.0}), [0.6, 0.9],
                     preset="cpu-quick", final_acc=0.91)
    write_run_folder(root, "20261130-090000-fast", config(**{"model.widths": [48, 96, 96]}), [0.4], preset="fast",
                     state="stopped")
    return root


def test_rows_come_from_summaries_newest_first(root):
    rows = list_rows(root)
    assert [r.name for r in rows] == ["20261201-100000-cpu-quick-1", "20261201-100000-cpu-quick",
                                      "20261130-090000-fast"]
    second, first, fast = rows
    # The preset comes from summary.json, not the folder name (which has "-1" for the second run).
    assert second.preset == "cpu-quick" and second.summary.final_acc == 0.91 and second.best_acc == 0.9
    assert first.tags == ["baseline"] and first.note == "first try" and first.best_epoch == 3
    assert fast.state == "stopped" and fast.problem is None
    assert first.record()["optimizer.lr"] == 0.5 and fast.record()["model.widths"] == [48, 96, 96]


def test_a_run_from_before_summaries_is_summarized_from_its_logs(tmp_path):
    run_dir = write_run_folder(tmp_path, "20240101-120000-old", config(), [0.3, 0.6], final_acc=0.65, summary=False)
    (row,) = list_rows(tmp_path)
    assert not (run_dir / "summary.json").exists()
    assert (row.state, row.preset, row.best_acc, row.epochs_done, row.summary.final_acc) == \
        ("finished", "old", 0.6, 2, 0.65)
    assert row.summary.data == "synthetic" and row.summary.device == "cpu (2 threads)"


def test_broken_folders_get_a_row_marked_with_their_problem(tmp_path):
    ok = write_run_folder(tmp_path, "20261201-100000-ok", config(), [0.5])
    torn = write_run_folder(tmp_path, "20261201-100001-torn", config(), [0.5, 0.6], summary=False)
    with open(torn / folder.METRICS, "a") as f:
        f.write("3,0.1,0.9")  # a kill mid-write: no newline
    (tmp_path / "20261201-100002-noconfig").mkdir()
    (tmp_path / "20261201-100002-noconfig" / folder.METRICS).write_text("epoch\n")
    newer = write_run_folder(tmp_path, "20261201-100003-newer", config(), [0.5])
    (newer / "config.toml").write_text((newer / "config.toml").read_text() + "[future]\nknob = 1\n")
    garbled = write_run_folder(tmp_path, "20261201-100004-garbled", config(), [0.5])
    (garbled / "summary.json").write_text("{not json")
    dead = write_run_folder(tmp_path, "20261201-100005-dead", config(), [0.5], state="live")
    (dead / folder.LIVE).write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))
    (tmp_path / "not-a-run").mkdir()

    rows = {r.name: r for r in list_rows(tmp_path)}
    assert set(rows) == {p.name for p in (ok, torn, newer, garbled, dead)} | {"20261201-100002-noconfig"}
    assert rows[ok.name].problem is None
    assert rows[torn.name].epochs_done == 2 and rows[torn.name].state == "finished"
    assert rows["20261201-100002-noconfig"].state == "unreadable"
    assert "no config.toml" in rows["20261201-100002-noconfig"].problem
    assert "unknown keys future.knob" in rows[newer.name].problem
    assert rows[newer.name].record()["future.knob"] == 1  # still shown as a setting
    assert "summary.json is not valid JSON" in rows[garbled.name].problem
    assert rows[garbled.name].best_acc == 0.5  # from metrics.csv instead
    assert rows[dead.name].state == "failed" and "killed?" in rows[dead.name].summary.message


def test_the_listing_rereads_only_folders_that_changed(root):
    listing = Listing(root)
    before = {r.name: r for r in listing.rows()}
    (root / "20261130-090000-fast" / "notes.json").write_text(json.dumps({"note": "later", "tags": []}))
    after = {r.name: r for r in listing.rows()}
    assert after["20261201-100000-cpu-quick"] is before["20261201-100000-cpu-quick"]
    assert after["20261130-090000-fast"] is not before["20261130-090000-fast"]
    assert after["20261130-090000-fast"].note == "later"


def run_cli(home, *args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(home), timeout=120)


def test_runs_csv_json_metrics_and_filter(home, root):
    proc = run_cli(home, "runs", "--runs", str(root), "--csv")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["name"] for r in table][0] == "20261201-100000-cpu-quick-1"
    first = next(r for r in table if r["name"] == "20261201-100000-cpu-quick")
    assert first["note"] == "first try" and first["tags"] == "baseline" and float(first["best_acc"]) == 0.8
    assert first["optimizer.lr"] == "0.5" and first["model.widths"] == "[]"

    proc = run_cli(home, "runs", "--runs", str(root), "--json", "--filter", "best_acc>=85% preset:cpu-quick")
    listed = json.loads(proc.stdout)
    assert [r["name"] for r in listed] == ["20261201-100000-cpu-quick-1"] and listed[0]["final_acc"] == 0.91
    assert {"run_dir", "best_acc", "best_epoch", "epochs", "preset", "state", "optimizer.lr"} <= set(listed[0])

    proc = run_cli(home, "runs", "--runs", str(root), "--metrics", "--csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 3 + 2 + 1 and {r["run"] for r in rows} == {p.name for p in root.iterdir()}

    proc = run_cli(home, "runs", "--runs", str(root), "--filter", "optimizer.lrr<1")
    assert proc.returncode == 2 and "did you mean optimizer.lr" in proc.stderr and "Traceback" not in proc.stderr


def test_note_and_tag_from_the_shell(home, root):
    run_dir = root / "20261130-090000-fast"
    assert run_cli(home, "note", str(run_dir), "widths 48 was worse").returncode == 0
    proc = run_cli(home, "tag", str(run_dir), "--add", "wide", "--add", "old", "--remove", "old")
    assert proc.returncode == 0, proc.stderr
    assert run_cli(home, "tag", str(run_dir), "--add=-bad").returncode == 2
    (row,) = [r for r in list_rows(root) if r.path == run_dir]
    assert row.note == "widths 48 was worse" and row.tags == ["wide"]
    proc = run_cli(home, "note", str(root / "nope"), "x")
    assert proc.returncode == 2 and "not a run folder" in proc.stderr


def test_listing_never_imports_torch(home, root):
    code = ("import sys; from tui_trainer.cli import main; main(['runs', '--runs', sys.argv[1], '--csv']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True,
                          env=cli_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_real_run_writes_a_summary_a_listing_reads(tmp_path):
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.training.trainer import Trainer

    result = Trainer(tiny_config(**{"run.epochs": 1}), data="synthetic", runs_dir=tmp_path, preset="tiny",
                     dataset=make_synthetic(n_train=512, n_test=200)).run()
    (row,) = list_rows(tmp_path)
    assert row.state == "finished" and row.preset == "tiny" and row.summary.data == "synthetic"
    assert row.best_acc == result.best_acc and row.summary.final_acc == result.final_acc
    assert row.summary.parameters > 0 and row.summary.images_per_s > 0 and row.summary.epochs_total == 1
