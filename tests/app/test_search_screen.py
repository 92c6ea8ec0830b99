"""The Search screen with a real study: started from the app as detached work, it goes on after the
app exits; a new app finds it, shows its trials with the best marked, opens a trial's run and stops
the study, whose running trial saves last.pt."""
from __future__ import annotations

import time
from pathlib import Path

from tui_trainer.app.app import TrainerApp
from tui_trainer.app.screens.search import SearchScreen
from tui_trainer.app.widgets.trials_table import TrialsTable
from tui_trainer.search.lead import SearchPlaces, look, request_stop
from tui_trainer.search.study_file import load_study
from tui_trainer.workspace import folder

from .conftest import TINY_PRESET, run, wait_for


def small_cifar(root: Path) -> str:
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.data.writers import write_cifar_batches

    write_cifar_batches(root, make_synthetic(n_train=512, n_test=200))
    return str(root)


def write_study(tmp_path: Path) -> Path:
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY_PRESET.format(epochs=2))
    study = tmp_path / "studies" / "app-study.toml"
    study.parent.mkdir()
    # A grid in order: a short trial to complete while no app is open, then a long one to stop.
    study.write_text(f'preset = "{preset}"\nsampler = "grid"\npruner = "none"\nvalidation = 100\n'
                     '[space]\n"run.epochs" = { values = [2, 10000] }\n')
    return study


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_a_study_started_here_outlives_the_app_and_a_new_app_follows_and_stops_it(tmp_path, app_home):
    data = small_cifar(tmp_path / "data")
    study = write_study(tmp_path)
    places = SearchPlaces(load_study(study), tmp_path / "runs", None)

    async def start_then_quit():
        app = TrainerApp(data, tmp_path / "runs", "cpu")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            screen.open_study(study)
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.screen is not screen, 10, "the workers question")
            await pilot.press("backspace", "1", "enter")
            await wait_for(pilot, lambda: screen.view and screen.view.report and screen.view.report.rows, 60,
                           "the first trial in the table")
            assert "running here" in str(screen.query_one("#study-title").render())
        # the app has exited here, its study has not

    try:
        run(start_then_quit())
        _follow_and_stop_then_check(tmp_path, data, study, places)
    finally:
        request_stop(places)  # a failed check leaves no study training


def _follow_and_stop_then_check(tmp_path, data, study, places) -> None:
    wait_until(lambda: (v := look(places)).report and v.report.counts.get("complete"), 120, "a trial to complete")
    assert places.lead_pid() is not None

    async def follow_and_stop():
        app = TrainerApp(data, tmp_path / "runs", "cpu")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            screen = app.screen
            screen.open_study(study)
            table = screen.query_one(TrialsTable)
            await wait_for(pilot, lambda: table.row_count == 2, 60, "both trials")
            best = screen.view.report.best
            assert str(table.get_row_at(best.number)[0]).startswith("★")
            table.move_cursor(row=best.number)
            await pilot.press("enter")  # the trial's run in the Training view
            await wait_for(pilot, lambda: app.session is not None and app.session.run_dir == Path(best.run_dir), 10,
                           "the trial's run")
            await wait_for(pilot, lambda: app.session.finished is not None, 30, "its replay")
            await pilot.press("f4")
            running = [r for r in screen.view.report.rows if r.state == "running"]
            assert running, screen.view.report.rows
            await pilot.press("x")
            await wait_for(pilot, lambda: app.screen is not screen, 10, "the stop question")
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.view.lead_pid is None, 120, "the study to stop")
            return running[0].number

    stopped = run(follow_and_stop())
    rows = {r.number: r for r in look(places).report.rows}
    assert rows[stopped].state == "failed" and "stopped by the user" in rows[stopped].message
    run_dir = Path(rows[stopped].run_dir)
    assert (run_dir / "checkpoints" / "last.pt").is_file() and folder.live_pid(run_dir) is None
