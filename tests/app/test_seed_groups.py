"""A seed group started from Setup (the Run section's seeds field): trained here, one session a
member, or, in the served app, as detached work the app follows from member to member."""
from __future__ import annotations

from textual.widgets import Input

from tui_trainer.app.app import TrainerApp
from tui_trainer.app.widgets.config_form import ConfigForm
from tui_trainer.workspace.summary import read_summary

from .conftest import make_app, run, select_preset, wait_for
from .test_search_screen import small_cifar
from .test_setup import type_into


async def start_group(pilot, seeds: int) -> None:
    await select_preset(pilot, "tiny-app")
    form = pilot.app.screen.query_one(ConfigForm)
    await type_into(pilot, pilot.app.screen.query_one("#f-run-seeds", Input), str(seeds))
    # As a user sees the field take the value before F5 (on a loaded machine the form's messages
    # can trail the keys).
    await wait_for(pilot, lambda: form.valid and form.config.run.seeds == seeds, 10,
                   lambda: f"the form to take run.seeds = {seeds} (it has {form.config.run.seeds})")
    await pilot.press("f5")


def members(runs):
    found = [read_summary(p) for p in sorted(runs.iterdir()) if (p / "summary.json").exists()]
    assert found and len({s.group for s in found}) == 1 and found[0].group, found
    return found


def test_seeds_on_setup_train_a_group_here_one_session_a_member(tmp_path, app_home, small_data):
    async def scenario():
        app = make_app(tmp_path, small_data)
        shown = []  # every session the app showed, in order: a member can end between two polls
        set_session = app._set_session
        app._set_session = lambda session: (shown.append(session), set_session(session))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await start_group(pilot, 2)
            await wait_for(pilot, lambda: len(shown) == 2 and shown[1].finished is not None, 120,
                           lambda: f"the second member to finish: the app showed {len(shown)} session(s), "
                                   f"{[(s.run_dir, s.state(), s.failed) for s in shown]}")
            first, second = shown
            assert first.finished is not None and first.run_dir != second.run_dir and app.session is second
            assert second.in_group  # between members too, the app says a run trains here
            await wait_for(pilot, lambda: not app.training_here(), 30, "the group's worker to end")

    run(scenario())
    found = members(tmp_path / "runs")
    assert [s.config["run.seed"] for s in found] == [1, 2] and all(s.state == "finished" for s in found)
    assert found[0].group_seeds == [1, 2] and all(s.best_acc > 0.3 for s in found)  # chance is 0.1


def test_a_served_apps_group_is_detached_work_followed_member_to_member(tmp_path, app_home):
    data = small_cifar(tmp_path / "data")

    async def scenario():
        app = TrainerApp(data, tmp_path / "runs", "cpu", detach_runs=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await start_group(pilot, 2)
            await wait_for(pilot, lambda: app.session is not None and app.session.kind == "attached", 120,
                           "the app to attach to the first member")
            first = app.session.run_dir
            await wait_for(pilot, lambda: app.session.run_dir != first, 120, "the app to follow the second member")
            await wait_for(pilot, lambda: app.session.finished is not None, 120, "the second member to finish")

    run(scenario())
    found = members(tmp_path / "runs")
    assert len(found) == 2 and all(s.state == "finished" for s in found)
