"""Text from files never reaches a TOML file, a spreadsheet or a terminal raw, and what the tool
can refuse before it makes a run folder it refuses in one line: each as a hostile user, or a
careless one, would try it (real files and processes; a real full disk)."""
import csv
import io
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import torch
from PIL import Image

from tui_trainer import presets
from tui_trainer.cli import main
from tui_trainer.config import Config, load_toml, to_toml
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.events import RunFinished
from tui_trainer.search.study_file import study_toml
from tui_trainer.text import clip, shown
from tui_trainer.training import checkpoints
from tui_trainer.training.queue_runner import run_queue
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import queue as q
from tui_trainer.workspace.filter import FilterError, parse
from tui_trainer.workspace.fixtures import write_run_folder
from tui_trainer.workspace.notes import Notes, NotesError, check_tag, edit_tags

from conftest import CLI, cli_env, one_line_error, run_cli, tiny_config

ESC = "\x1b]0;pwned\x07\x1b[2J"  # retitles the terminal's window, then clears the screen
HOSTILE = [ESC, 'quote " and backslash \\ and\nnewline\rreturn', "del \x7f nel \x85 rlo \u202e bom \ufeff",
           "emoji 😀 and 中文", "=1+2", "[b]markup[/]"]


def no_escapes(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, repr(text)


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(n_train=512, n_test=128)


# --- TOML ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_every_string_round_trips_through_the_toml_files(tmp_path, text):
    cfg = Config(description=text)
    path = tmp_path / "preset.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    assert load_toml(path).description == text
    study = study_toml(preset=text, trials=3, sampler="tpe", pruner="none", objective="best_acc", description=text,
                       sets={"run.eval_every": 1}, space={"optimizer.lr": {"low": 0.01, "high": 1.0, "log": True}})
    raw = tomllib.loads(study)
    assert raw["description"] == text and raw["preset"] == text and raw["space"]["optimizer.lr"]["log"] is True


def test_a_run_whose_preset_description_holds_escapes_resumes(tmp_path, synthetic):
    cfg = tiny_config(**{"run.epochs": 1})
    cfg.description = ESC
    first = Trainer(cfg, data="synthetic", runs_dir=tmp_path, dataset=synthetic).run()
    assert isinstance(first, RunFinished), first
    assert load_toml(Path(first.run_dir) / "config.toml").description == ESC
    more = Trainer(data="synthetic", resume=first.run_dir, epochs=2, dataset=synthetic).run()
    assert isinstance(more, RunFinished) and more.epochs == 2, more


# --- CSV -------------------------------------------------------------------------------------

def test_csv_text_cells_never_start_a_formula_and_numbers_stay_numbers(home, tmp_path, capsys):
    cfg = tiny_config()
    run = write_run_folder(tmp_path, "-20261201-120000-x", cfg, [0.5, 0.75], preset="@preset")
    note = '=HYPERLINK("http://x/?"&A1,"click")'
    assert main(["note", str(run), note]) == 0
    # A tag from before tags were checked: it is in notes.json already.
    (run / "notes.json").write_text(json.dumps({"note": note, "tags": ["+cmd", "ok"]}))
    capsys.readouterr()
    assert main(["runs", "--runs", str(tmp_path), "--csv"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["note"] == "'" + note and row["tags"] == "'+cmd;ok" and row["name"] == "'-20261201-120000-x"
    assert row["preset"] == "'@preset"
    assert float(row["best_acc"]) == 0.75 and float(row["optimizer.lr"]) == cfg.optimizer.lr
    assert main(["runs", "--runs", str(tmp_path), "--metrics", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run"] for r in rows] == ["'-20261201-120000-x"] * 2
    assert [float(r["test_acc"]) for r in rows] == [0.5, 0.75]


# --- terminals -------------------------------------------------------------------------------

def test_shown_draws_control_and_invisible_characters():
    assert shown(ESC) == "^[]0;pwned^G^[[2J"
    assert shown("a\tb\nc") == "a^Ib^Jc" and shown("a\tb\nc", newlines=True) == "a\tb\nc"
    assert shown("rlo \u202e del \x7f nel \x85") == "rlo \\u202e del ^? nel \\u0085"
    assert shown("café 中文 😀") == "café 中文 😀"


def test_clip_cuts_at_a_word():
    text = "refused to load: it holds objects other than tensors and plain values from torch.load"
    assert clip(text, 40) == "refused to load: it holds objects other…"
    assert clip("short", 40) == "short"


def test_the_cli_shows_file_text_with_its_escapes_visible(home, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    run = write_run_folder(runs_dir, f"20261201-120000-{ESC}", tiny_config(), [0.5],
                           notes=Notes(note=ESC, tags=["ok"]))
    (run / "notes.json").write_text(json.dumps({"note": ESC, "tags": [ESC]}))  # from before tags were checked
    user_presets = home / ".config" / "tui-trainer" / "presets"
    user_presets.mkdir(parents=True)
    (user_presets / f"mine{ESC}.toml").write_text(to_toml(Config(description=ESC)))
    for argv in (["runs", "--runs", str(runs_dir)], ["tag", str(run)], ["presets"]):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        no_escapes(out + err)
        assert "^[" in out, argv


@pytest.fixture(scope="module")
def hostile_checkpoint(tmp_path_factory, synthetic):
    """A checkpoint whose class names hold escapes, and an image file whose name does."""
    root = tmp_path_factory.mktemp("hostile")
    result = Trainer(tiny_config(**{"run.epochs": 1, "run.precision": "fp32"}), data="synthetic", runs_dir=root,
                     dataset=synthetic).run()
    path = Path(result.run_dir) / "checkpoints" / "best.pt"
    payload = checkpoints.load(path)
    payload["classes"] = [f"class{i}{ESC}" for i in range(10)]
    checkpoints.save(path, payload)
    image = root / f"cat{ESC}.png"
    Image.fromarray(synthetic.test_x[0].permute(1, 2, 0).numpy()).save(image)
    return path, image


def test_predict_and_eval_show_class_and_file_names_with_escapes_visible(hostile_checkpoint, capsys):
    path, image = hostile_checkpoint
    for argv in (["predict", str(path), str(image), "--device", "cpu"],
                 ["predict", str(path), str(image.parent), "--device", "cpu"]):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        no_escapes(out + err)
        assert "cat^[" in out and "class" in out


def test_the_runs_table_shows_names_tags_and_notes_with_escapes_visible(tmp_path, monkeypatch):
    import asyncio

    from tui_trainer.app.app import TrainerApp
    from tui_trainer.app.screens.runs import RunsScreen
    from tui_trainer.app.widgets.virtual_table import VirtualTable

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    runs_dir = tmp_path / "runs"
    run = write_run_folder(runs_dir, f"20261201-120000-{ESC}", tiny_config(), [0.5], preset=f"[b]{ESC}")
    (run / "notes.json").write_text(json.dumps({"note": f"[/]{ESC}", "tags": [ESC]}))

    async def drive():
        app = TrainerApp(data="synthetic", runs=runs_dir)
        async with app.run_test(size=(320, 40)) as pilot:  # wide enough for the note column
            await pilot.press("f3")
            for _ in range(100):
                await pilot.pause(0.05)
                table = app.screen.query_one(VirtualTable) if isinstance(app.screen, RunsScreen) else None
                if table is not None and table.row_count:
                    break
            lines = [table.render_line(y).text for y in range(table.size.height)]
            await pilot.pause(0.2)  # the highlighted run's checkpoints pane takes its name
            title = str(app.screen.query_one("#ckpt-title").render())
            assert title == f"Checkpoints of {shown(run.name)}", title  # no markup read into the name
            return "\n".join(lines)

    text = asyncio.run(drive())
    no_escapes(text)
    assert "20261201-120000-^[" in text and "[b]^[" in text and "[/]^[" in text


# --- tags, notes and run folders -------------------------------------------------------------

@pytest.mark.parametrize("tag", ["\x1b[2J", "=1+2", "@sum", "+x", "../../etc", "a b", "a,b", "-x", "tag/x", ""])
def test_a_tag_is_letters_digits_and_dash_underscore_dot_colon(tag):
    with pytest.raises(NotesError):
        check_tag(tag)


def test_good_tags_pass_and_an_old_bad_one_can_be_removed(tmp_path):
    for tag in ("baseline", "lr-sweep_2", "v1.2", "study:x", "été"):
        assert check_tag(tag) == tag
    run = write_run_folder(tmp_path, "r", tiny_config(), [0.5])
    (run / "notes.json").write_text(json.dumps({"note": "", "tags": ["=1+2", "ok"]}))
    assert edit_tags(run, remove=["=1+2"]).tags == ["ok"]


def test_note_and_tag_write_only_into_run_folders(home, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.toml").write_text("[run]\nepochs = 3\n")
    for args in (["note", str(project), "hello"], ["tag", str(project), "--add", "x"]):
        assert "is not a run folder" in one_line_error(run_cli(home, *args), 2)
    assert sorted(p.name for p in project.iterdir()) == ["config.toml"]


# --- a full disk -----------------------------------------------------------------------------

def test_a_full_disk_is_one_line_naming_the_folder_and_the_listing_shows_only_what_is_on_disk(home, tmp_path):
    """A real 64 KB tmpfs (a user and mount namespace: root in it, nothing else changes): the first
    best.pt (about 800 KB) does not fit. Fails, never skips, where such a file system cannot be made."""
    assert shutil.which("unshare"), "unshare (util-linux) is needed to make a small file system"
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 2})))
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=64k tmpfs {disk} || exit 99; "
              f"{' '.join(CLI)} train --preset {preset} --data synthetic --runs {disk}/runs; echo \"exit $?\"; "
              f"{' '.join(CLI)} runs --runs {disk}/runs --json; ls {disk}/runs/*/checkpoints")
    proc = subprocess.run(["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True,
                          env=cli_env(home), timeout=240)
    assert proc.returncode != 99, f"could not mount a tmpfs: {proc.stderr}"
    out = proc.stdout.splitlines()
    assert "exit 1" in out, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "Traceback" not in proc.stderr and "enforce fail" not in proc.stderr, proc.stderr
    assert f"no space left in {disk}/runs/" in errors[0] and "best.pt: it needs" in errors[0], errors[0]
    assert "KB free" in errors[0] or " B free" in errors[0], errors[0]
    assert "no best.pt was written" in errors[0], errors[0]
    (record,) = json.loads(out[out.index("exit 1") + 1])
    assert record["state"] == "failed" and record["best_acc"] is None and record["best_epoch"] is None, record
    assert "best.pt" not in proc.stdout.split("exit 1")[1].split("\n", 2)[2]


# --- exports ---------------------------------------------------------------------------------

def test_a_safetensors_export_onto_a_folder_leaves_nothing(hostile_checkpoint, tmp_path, capsys):
    pytest.importorskip("safetensors")
    path, _ = hostile_checkpoint
    target = tmp_path / "existing"
    target.mkdir()
    assert main(["export", str(path), "--format", "safetensors", "-o", str(target)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"] and not list(target.iterdir())


# --- refused before a run folder is made -----------------------------------------------------

@pytest.mark.parametrize("extra,needle", [
    (["--set", "model.widths=8"], "model.widths = [8]: airbench takes 3 widths"),
    (["--set", "data.image_size=48", "--data", "CIFAR"], "data.image_size = 48, but CIFAR-10 images are 32x32"),
    (["--set", "model.name=seed_cnn", "--set", "data.image_size=48", "--data", "FOLDERS"],
     "model.name = 'seed_cnn' does not take 48x48 images"),
    (["--data", "MISSING"], "no such folder"),
    (["--set", "data.dataset=cifar100", "--data", "synthetic"], "data.dataset = 'cifar100' picks a data set"),
])
def test_settings_that_cannot_train_exit_2_and_leave_no_run_folder(home, tmp_path, synthetic, extra, needle):
    from tui_trainer.data.writers import write_cifar_batches, write_image_folders

    places = {"CIFAR": lambda: write_cifar_batches(tmp_path / "cifar", synthetic).parent,
              "FOLDERS": lambda: write_image_folders(tmp_path / "folders", synthetic),
              "MISSING": lambda: tmp_path / "nowhere"}
    args = [str(places[a]()) if a in places else a for a in extra]
    runs_dir = tmp_path / "runs"
    line = one_line_error(run_cli(home, "train", "--preset", "cpu-quick", "--runs", str(runs_dir), *args), 2)
    assert needle in line, line
    assert not runs_dir.exists() or not list(runs_dir.iterdir())


def test_a_checkpoint_with_a_bad_header_or_no_checkpoint_at_all_is_named(home, hostile_checkpoint, tmp_path):
    path, _ = hostile_checkpoint
    payload = checkpoints.load(path)
    payload["mean"] = ["a", 0.5, 0.5]
    bad = tmp_path / "bad-mean.pt"
    torch.save(payload, bad)
    line = one_line_error(run_cli(home, "eval", str(bad), "--data", "synthetic"), 1)
    assert str(bad) in line and "mean is not three numbers" in line
    text = tmp_path / "notes.pt"
    text.write_text("[run]\nepochs = 3\n")
    line = one_line_error(run_cli(home, "eval", str(text), "--data", "synthetic"), 1)
    assert str(text) in line and "not a checkpoint" in line and "other than tensors" not in line


# --- smaller ---------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["optimizer.lr<nan", "best_acc>inf", "date>=notadate", "!!x"])
def test_filters_that_can_match_nothing_by_mistake_are_refused(expr):
    with pytest.raises(FilterError):
        parse(expr)


def test_a_busy_queue_refuses_before_it_says_it_trains(tmp_path):
    queue = q.Queue(tmp_path)
    queue.claim()  # this process is the live runner now
    told = []
    try:
        with pytest.raises(q.QueueBusy):
            run_queue(tmp_path, claimed=told.append)
    finally:
        queue.release()
    assert told == []


def test_fewer_epochs_than_the_preset_keep_its_schedule_shape_and_resume_extends_as_is(tmp_path, synthetic):
    cfg, _ = presets.resolve("cpu-quick", epochs=1)
    base, _ = presets.resolve("cpu-quick")
    assert cfg.schedule.warmup_epochs == pytest.approx(base.schedule.warmup_epochs / base.run.epochs)
    kept, _ = presets.resolve("cpu-quick", ["schedule.warmup_epochs=0.5"], epochs=2)
    assert kept.schedule.warmup_epochs == 0.5
    notebook, _ = presets.resolve("seed-notebook-cyclic", ["run.epochs=20"])
    assert notebook.run.best_after_epoch == 1 and notebook.schedule.cycle_epochs == pytest.approx(0.4)
    # --resume --epochs extends the run it was: its warmup stays as it trained.
    run_cfg = tiny_config(**{"run.epochs": 1, "schedule.warmup_epochs": 0.5})
    first = Trainer(run_cfg, data="synthetic", runs_dir=tmp_path, dataset=synthetic).run()
    Trainer(data="synthetic", resume=first.run_dir, epochs=2, dataset=synthetic).run()
    resumed = load_toml(Path(first.run_dir) / "config.toml")
    assert resumed.run.epochs == 2 and resumed.schedule.warmup_epochs == 0.5
