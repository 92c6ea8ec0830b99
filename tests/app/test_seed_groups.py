"""A seed group started from Setup (the Run section's seeds field): trained here, one session a
member, or, in the served app, as detached work the app follows from member to member."""
from __future__ import annotations

from textual.widgets import Input

from tui_trainer.app.app import TrainerApp
from tui_trainer.workspace.summary import read_summary

from .conftest import make_app, run, select_preset, wait_for
from .test_search_screen import small_cifar
from .test_setup import type_into


async def start_group(pilot, seeds: int) -> None:
    await select_preset(pilot, "tiny-app")
    await type_into(pilot, pilot.app.screen.query_one("#f-run-seeds", Input), str(seeds))
    await pilot.press("f5")


def members(runs):
    found = [read_summary(p) for p in sorted(runs.iterdir()) if (p / "summary.json").exists()]
    assert found and len({s.group for s in found}) == 1 and found[0].group, found
    return found


def test_seeds_on_setup_train_a_group_here_one_session_a_member(tmp_path, app_home, small_data):
    async def scenario():
        app = make_app(tmp_path, small_data)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await start_group(pilot, 2)
            await wait_for(pilot, lambda: app.session is not None and app.session.run_dir is not None, 60,
                           "the first member")
            first = app.session

            def shown() -> str:  # what the app showed, for a timeout's message
                s = app.session
                return (f"the second member to finish: the app shows {'the first' if s is first else 'another'} "
                        f"session, {s.run_dir}, state {s.state}, failed {s.failed}, worker {s.worker}")
            await wait_for(pilot, lambda: app.session is not first and app.session.finished is not None, 120, shown)
            assert first.finished is not None and first.run_dir != app.session.run_dir
            assert app.session.in_group  # between members too, the app says a run trains here
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
