"""The Runs screen (F3) on run folders written by hand: listing, checkpoints, sort, filter,
selection and overlay, notes, diff, delete."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess

from rich.console import Console
from textual.widgets import OptionList, TextArea

from tui_trainer.app.app import TrainerApp
from tui_trainer.app.screens.runs import RunsScreen
from tui_trainer.app.widgets.overlay_plot import OverlayPlot
from tui_trainer.config import Config, to_toml
from tui_trainer.workspace import folder

from .conftest import SIX, make_app, run, six_runs, wait_for
from conftest import CLI, cli_env


async def open_runs(pilot, count):
    await pilot.press("f3")
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: len(screen.table.shown_rows) == count, 20, "the runs table")
    return screen


def test_no_runs_folder_yet_shows_an_empty_table(tmp_path, app_home):
    async def scenario():
        app = make_app(tmp_path)  # tmp_path/runs does not exist: a new user's first F3
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            screen = app.screen
            await wait_for(pilot, lambda: screen.table.table.columns, 20, "the table's header")
            assert screen.table.table.row_count == 0 and screen.current is None
            await pilot.press("slash", "x", "enter", "space", "e", "c")  # nothing to act on: no error
            await pilot.pause()
            assert app.screen is screen

    run(scenario())


def test_the_checkpoint_table_can_be_told_of_no_run_before_it_mounts():
    from textual.app import App

    from tui_trainer.app.widgets.checkpoint_table import CheckpointTable

    class One(App):
        async def on_mount(self) -> None:
            table = CheckpointTable()
            table.show([])  # the runs table's first "nothing highlighted" can come this early
            await self.mount(table)

    async def scenario():
        app = One()
        async with app.run_test() as pilot:
            await pilot.pause()
            table = app.query_one(CheckpointTable)
            assert len(table.columns) == 5 and table.row_count == 1

    run(scenario())


def test_the_runs_screen_is_prepared_unseen_and_f3_shows_its_table_at_once(tmp_path, app_home, monkeypatch):
    six_runs(tmp_path / "runs")
    monkeypatch.setattr(TrainerApp, "PREPARE_RUNS_AFTER_S", 0.2)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app._runs_composed, 20, "the preparation")
            await pilot.pause()
            await wait_for(pilot, lambda: all(w.is_finished for w in app.workers), 30, "the listing")
            assert app.current_mode == "setup" and app.screen.id != "runs-screen"
            assert app.focused is not None and app.focused.screen is app.screen  # Setup keeps its focus
            await pilot.press("f3")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            assert len(screen.table.shown_rows) == len(SIX)  # no listing waited for
            assert screen.table.table.row_count == len(SIX)

    run(scenario())


def fake_run(root, name="20240101-120000-fake"):
    run_dir = root / name
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.toml").write_text(to_toml(Config()))
    return run_dir


def test_unreadable_checkpoint_is_marked_not_fatal(tmp_path, app_home):
    run_dir = fake_run(tmp_path / "runs")
    (run_dir / "checkpoints" / "best.pt").write_bytes(os.urandom(4096))

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            ck = app.screen
            assert isinstance(ck, RunsScreen)
            await wait_for(pilot, lambda: ck.checkpoint_infos, 20, "the checkpoint rows")
            status = ck.checkpoint_status("best.pt")
            assert status.startswith("unreadable: "), status
            assert str(run_dir) not in status  # the row already names the file

            await pilot.press("e")  # evaluating it reports, and the app goes on
            await wait_for(pilot, lambda: "best.pt" in str(ck.query_one("#eval-headline").render()), 30)
            assert ck.last_result is None
            assert ck.checkpoint_status("best.pt").startswith("unreadable: ")
            await pilot.press("f1")
            assert app.current_mode == "setup"

    run(scenario())


def test_delete_asks_first(tmp_path, app_home):
    keep = fake_run(tmp_path / "runs", "20240101-120000-keep")
    gone = fake_run(tmp_path / "runs", "20240102-120000-gone")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            ck = app.screen
            await wait_for(pilot, lambda: ck.current is not None, 20)
            assert ck.current.path == gone  # newest first
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause(0.2)
            assert gone.exists()
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: not gone.exists() and [r.path for r in ck.runs] == [keep], 20)

    run(scenario())


def test_sort_filter_and_its_error(tmp_path, app_home):
    six_runs(tmp_path / "runs")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_runs(pilot, 6)
            table = screen.table
            # The settings that differ are columns; the ones all runs share are not.
            assert {"optimizer.lr", "model.widths", "model.name"} <= set(table.column_keys())
            assert "optimizer.momentum" not in table.column_keys()

            await pilot.press("s")  # sort: pick the Final column in the list
            picker = app.screen.query_one(OptionList)
            keys = [picker.get_option_at_index(i).id for i in range(picker.option_count)]
            picker.highlighted = keys.index("final_acc")
            await pilot.press("enter")
            await pilot.pause(0.1)
            finals = [r.summary.final_acc for r in table.shown_rows]
            assert finals == sorted(finals, reverse=True) and table.shown_rows[0].name == "20261201-092000-fast"
            table.sort_by("final_acc")  # the same column again reverses
            assert table.shown_rows[0].name == "20261201-094000-seed-notebook"

            await pilot.press("slash")
            for key in "tag:baseline best_acc>0.85":
                await pilot.press(key if key != " " else "space")
            await pilot.pause(0.1)
            assert [r.name for r in table.shown_rows] == ["20261201-092000-fast"]
            await pilot.press(*"x<")  # "best_acc>0.85x<": a syntax error
            await pilot.pause(0.1)
            error = str(table.query_one("#filter-error").render())
            assert "expected a number" in error and table.query_one("#filter-error").has_class("-shown")
            assert [r.name for r in table.shown_rows] == ["20261201-092000-fast"]  # the last good filter

    run(scenario())


def test_three_selected_runs_give_three_coloured_series_and_a_diff(tmp_path, app_home):
    six_runs(tmp_path / "runs")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_runs(pilot, 6)
            plot = screen.query_one(OverlayPlot)
            await wait_for(pilot, lambda: len(plot.drawn_series()) == 1, 10, "the highlighted run's curve")
            for _ in range(3):
                await pilot.press("space", "down")
            await wait_for(pilot, lambda: len(plot.drawn_series()) == 3, 10, "three curves")
            names = [name for name, _, _ in plot.drawn_series()]
            assert names == [r.name for r in screen.table.selected_rows()]
            assert len({plot.colour_of(n) for n in names}) == 3
            await pilot.press("m")  # train accuracy, then by time
            await pilot.press("v")
            assert plot.metric == "train_acc" and plot.by_time and len(plot.drawn_series()) == 3

            await pilot.press("up", "space")  # unselect one: two left, their diff
            await pilot.press("c")
            await pilot.pause(0.2)
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(app.screen.query_one(".info-body Static").content)
            lines = console.export_text().splitlines()
            # bag-of-tricks (resnet18) and seed-notebook (seed_cnn) are left selected, side by side.
            model = next(line for line in lines if line.startswith("model.name"))
            assert model.split()[1:] == ["resnet18", "seed_cnn"], model
            assert not any(line.startswith("optimizer.lr") for line in lines)  # 0.1 in both
            assert any(line.startswith("best_acc") for line in lines)

    run(scenario())


def test_notes_round_trip_through_the_modal_and_the_shell(tmp_path, app_home):
    root = six_runs(tmp_path / "runs")
    target = root / "20261201-093000-fast"

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_runs(pilot, 6)
            while screen.current.path != target:
                await pilot.press("down")
            await pilot.press("n")
            await pilot.pause(0.2)
            app.screen.query_one(TextArea).insert("lr 0.4 looks too low")
            app.screen.query_one("#tags").value = "low-lr, keep"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.current is not None and screen.current.note, 10, "the saved note")
            assert screen.current.tags == ["low-lr", "keep"]

            # ... and from the shell the other way: the table shows it at the next refresh.
            proc = subprocess.run([*CLI, "note", str(root / "20261201-090000-cpu-quick"), "set from a shell"],
                                  capture_output=True, text=True, env=cli_env(app_home), timeout=60)
            assert proc.returncode == 0, proc.stderr
            screen.action_refresh()
            await wait_for(pilot, lambda: any(r.note == "set from a shell" for r in screen.runs), 10)

    run(scenario())
    proc = subprocess.run([*CLI, "runs", "--runs", str(root), "--csv"], capture_output=True, text=True,
                          env=cli_env(app_home), timeout=60)
    row = next(r for r in csv.DictReader(io.StringIO(proc.stdout)) if r["name"] == target.name)
    assert row["note"] == "lr 0.4 looks too low" and row["tags"] == "low-lr;keep"


def test_delete_is_refused_for_a_live_run_and_a_failing_delete_changes_nothing(tmp_path, app_home, monkeypatch):
    root = six_runs(tmp_path / "runs")
    live = root / "20261201-095000-bag-of-tricks"
    (live / folder.LIVE).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": 0}))
    stuck = root / "20261201-094000-seed-notebook"

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            screen = await open_runs(pilot, 6)
            assert screen.current.path == live  # newest first
            await pilot.press("d")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, type(None)) and app.screen is screen  # no confirmation asked
            assert any("training now" in n.message for n in app._notifications)
            app.clear_notifications()

            await pilot.press("down")
            assert screen.current.path == stuck
            monkeypatch.setattr(folder.shutil, "rmtree", refuse)
            await pilot.press("d")
            await wait_for(pilot, lambda: app.screen is not screen, 10, "the confirmation")
            await pilot.press("y")
            await wait_for(pilot, lambda: any(n.title == "Not deleted" for n in app._notifications), 10)
            messages = [n.message for n in app._notifications]
            assert len(messages) == 1 and "Permission denied" in messages[0], messages
            assert stuck.exists() and len(screen.runs) == 6

    run(scenario())


def test_g_groups_seeds_of_one_setting_and_b_gives_every_group_a_verdict(tmp_path, app_home):
    from tui_trainer.workspace.fixtures import write_run_folder

    for i, acc in enumerate((0.80, 0.82, 0.84)):  # three seeds of the defaults
        cfg = Config()
        cfg.set("run.seed", i)
        write_run_folder(tmp_path / "runs", f"20261201-09000{i}-a", cfg, [acc - 0.05, acc], final_acc=acc)
    for i, acc in enumerate((0.70, 0.72, 0.74)):  # three seeds of a lower LR
        cfg = Config()
        cfg.set("run.seed", i)
        cfg.set("optimizer.lr", 0.01)
        write_run_folder(tmp_path / "runs", f"20261201-10000{i}-b", cfg, [acc - 0.05, acc], final_acc=acc)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(160, 40)) as pilot:
            screen = await open_runs(pilot, 6)
            table = screen.table
            await pilot.press("g")  # by settings but the seed
            assert table.group_by == "settings" and table.column_keys()[1] == "group"
            heads = [str(cells[1]) for cells in table.table.rows]
            # A group is one row: n, final mean ± the 95% half-width, sd, best the same, mean time.
            assert [h.split(" · ")[:2] for h in sorted(heads)] == [["▸ n=3 72.00±4.97 sd 2.00", "best 72.00±4.97"],
                                                                  ["▸ n=3 82.00±4.97 sd 2.00", "best 82.00±4.97"]]
            b_row = next(i for i, r in enumerate(table.shown_rows) if r.name.endswith("-b"))
            table.table.move_cursor(row=b_row)
            assert sorted(r.name for r in table.rows_at_cursor()) == [f"20261201-10000{i}-b" for i in range(3)]
            await pilot.press("o")  # opened: its runs under its row, the cursor still on it
            heads = [str(cells[1]) for cells in table.table.rows]
            assert len(heads) == 4 and heads.count("│") == 2 and any(h.startswith("▾ n=3 72.00±4.97") for h in heads)
            assert table.highlighted().name.endswith("-b") and len(table.rows_at_cursor()) == 1
            await pilot.press("b")
            keys = table.column_keys()
            verdicts = {str(cells[keys.index("verdict")]) for cells in table.table.rows} - {""}
            assert "baseline" in verdicts and any(v.startswith("better by 10.00 ± ") for v in verdicts)
            await pilot.press("b")  # again on the baseline: none
            assert "verdict" not in table.column_keys()
            for _ in range(3):
                await pilot.press("g")  # preset, study, none
            assert table.group_by == "none" and "group" not in table.column_keys()
            await pilot.press("o")  # not grouped: nothing to open
            assert len(table.table.rows) == 6

    run(scenario())


def test_t_opens_a_runs_own_settings_and_seed_in_setup_to_train_it_again(tmp_path, app_home):
    from tui_trainer.app.widgets.config_form import ConfigForm
    from tui_trainer.workspace.fixtures import write_run_folder

    cfg = Config()
    for key, value in {"run.seed": 7, "run.seeds": 3, "optimizer.lr": 0.123}.items():
        cfg.set(key, value)
    write_run_folder(tmp_path / "runs", "20261201-090000-fast", cfg, [0.5, 0.6], preset="fast")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(160, 40)) as pilot:
            await open_runs(pilot, 1)
            await pilot.press("t")
            await wait_for(pilot, lambda: app.current_mode == "setup", 10, "Setup")
            form = app.screen.query_one(ConfigForm).config
            assert (form.run.seed, form.run.seeds, form.optimizer.lr) == (7, 1, 0.123)
            assert app.screen.preset_name == "fast"

    run(scenario())


def test_grouped_a_selected_run_is_drawn_as_its_group_mean_and_band(tmp_path, app_home):
    from tui_trainer.app.widgets.overlay_plot import band
    from tui_trainer.workspace.fixtures import write_run_folder

    for i, accs in enumerate(([0.50, 0.70], [0.60, 0.80], [0.55, 0.90])):
        cfg = Config()
        cfg.set("run.seed", i)
        write_run_folder(tmp_path / "runs", f"20261201-09000{i}-a", cfg, accs)

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(160, 40)) as pilot:
            screen = await open_runs(pilot, 3)
            plot = screen.query_one(OverlayPlot)
            await pilot.press("space")
            await wait_for(pilot, lambda: len(plot.drawn_series()) == 1 and not plot.curves[0].members, 10)
            await pilot.press("g")
            await wait_for(pilot, lambda: plot.curves and len(plot.curves[0].members) == 3, 10, "the group's curve")
            (name, xs, ys), = plot.drawn_series()
            assert xs == [1.0, 2.0] and [round(y, 6) for y in ys] == [55.0, 80.0]  # the members' mean
            _, _, low, high = band(plot.curves[0].members, "test_acc", False)
            assert low == [50.0, 70.0] and high == [60.0, 90.0]
            marks = [str(cells[0]) for cells in screen.table.table.rows]
            assert marks.count("●") == 1 and screen.table.colours.keys() >= {r.name for r in screen.table.rows}

    run(scenario())
