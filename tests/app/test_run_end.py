"""A word when a run ends (notification, bell, the user's notify command) and the system pane."""
from __future__ import annotations

import json

from tui_trainer.app.widgets.system_pane import Meter, SystemPane
from tui_trainer.events import SystemSample

from .conftest import make_app, run, start_preset, wait_for


def settings(home, text: str) -> None:
    folder = home / ".config" / "tui-trainer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.toml").write_text(text)


def spy_bell(app) -> list[int]:
    rings = []
    app.bell = lambda: rings.append(1)
    return rings


def test_a_finished_run_notifies_rings_and_runs_the_notify_command(tmp_path, app_home, small_data):
    received = tmp_path / "received.json"
    settings(app_home, f'notify_command = "cat > {received}"\n')

    async def scenario():
        app = make_app(tmp_path, data=small_data)
        rings = spy_bell(app)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            session = await start_preset(pilot, "tiny-app")
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.1)
            # Read before the notification's own timeout can remove it on a loaded machine.
            titles = [n.title for n in app._notifications]
            assert f"{session.name} finished" in titles and rings == [1]
            await wait_for(pilot, lambda: received.exists() and received.read_text().endswith("}"), 60,
                           "the notify command")
            payload = json.loads(received.read_text())
            assert payload["state"] == "finished" and payload["run_dir"] == str(session.run_dir)
            assert payload["best_acc"] == session.finished.best_acc and payload["event"]["event"] == "RunFinished"

    run(scenario())


def test_a_failed_run_notifies_and_a_failing_command_is_reported_once(tmp_path, app_home, small_data):
    settings(app_home, 'notify_command = "echo nope >&2; exit 3"\n')

    async def scenario():
        app = make_app(tmp_path, data=small_data)
        rings = spy_bell(app)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            app.runs.parent.mkdir(parents=True, exist_ok=True)
            app.runs.write_text("a file where the runs folder should be")  # the run fails at once
            session = await start_preset(pilot, "tiny-app")
            await wait_for(pilot, lambda: session.failed is not None, 60, "the failure")
            await pilot.pause(0.1)
            failed = [n for n in app._notifications if n.title == f"{session.name} failed"]
            assert len(failed) == 1 and "not writable" in failed[0].message and rings == [1]
            await wait_for(pilot, lambda: any(n.title == "Notify command failed" for n in app._notifications), 60)
            command = [n for n in app._notifications if n.title == "Notify command failed"]
            assert len(command) == 1 and "exited 3: nope" in command[0].message

    run(scenario())


def test_no_bell_when_the_settings_say_so(tmp_path, app_home, small_data):
    settings(app_home, "bell = false\n")

    async def scenario():
        app = make_app(tmp_path, data=small_data)
        rings = spy_bell(app)
        async with app.run_test(size=(120, 40)) as pilot:
            session = await start_preset(pilot, "tiny-app")
            await wait_for(pilot, lambda: not session.live, 120, "the run to end")
            await pilot.pause(0.2)
            assert rings == []

    run(scenario())


def test_system_pane_draws_what_its_source_samples(tmp_path, app_home):
    samples = iter(range(1000))

    def fake():
        i = next(samples)
        gpus = [{"index": 0, "name": "Test GPU", "util": 50.0 + i, "mem_used": 2 ** 30 * i, "mem_total": 2 ** 34,
                 "temp": 60.0}]
        return SystemSample(10.0 * (i % 10), 2 ** 30 * (4 + i % 3), 2 ** 34, 2 ** 29, gpus)

    async def scenario():
        app = make_app(tmp_path)
        app.system_source = fake
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f2")
            pane = app.screen.query_one(SystemPane)
            assert not pane.display
            await pilot.press("s")
            await wait_for(pilot, lambda: pane.samples >= 3, 10, "three samples")
            cpu = pane.query_one("#cpu", Meter)
            assert len(cpu.history) >= 2 and str(cpu.query_one(".meter-value").render()).endswith("%")
            assert "of 16.0 GiB" in str(pane.query_one("#ram", Meter).query_one(".meter-value").render())
            gpu = pane.query_one("#gpu0-util", Meter)
            assert gpu.history and "Test GPU" in str(gpu.query_one(".meter-value").render())
            await pilot.press("s")
            assert not pane.display

    run(scenario())
