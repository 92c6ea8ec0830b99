"""Small terminals and resizes during a run: nothing crashes and the run is unaffected."""
from __future__ import annotations

from pathlib import Path

from tui_trainer.app.widgets.epoch_table import EpochTable
from tui_trainer.workspace import folder

from .conftest import make_app, run, start_preset

SIZES = [(60, 20), (120, 40), (80, 24), (61, 21), (100, 30), (60, 20)]


def test_60x20_and_resizing_mid_run(tmp_path, app_home, paced_data):
    async def scenario():
        app = make_app(tmp_path, data=paced_data)
        async with app.run_test(size=(60, 20)) as pilot:
            session = await start_preset(pilot, "tiny-long")
            # Paused for the first round of resizes: a fast CPU trains the 4 epochs in about a second,
            # and the resizes are to land while the run is live, whatever the machine.
            session.pause()
            step = 0
            while session.live:
                await pilot.resize_terminal(*SIZES[step % len(SIZES)])
                if step % 4 == 3:  # and move between the screens while it trains
                    await pilot.press(("f3", "f1", "f2")[(step // 4) % 3])
                step += 1
                if step == 2 * len(SIZES):
                    session.resume()
                await pilot.pause(0.15)
            await pilot.press("f2")
            await pilot.resize_terminal(60, 20)
            await pilot.pause(0.3)
            assert session.failed is None, session.failed
            assert session.finished is not None and not session.finished.stopped
            assert step >= 2 * len(SIZES), "the run ended before the resizes"
            assert app.screen.query_one(EpochTable).row_count == 4
            assert [m.epoch for m in folder.read_metrics(Path(session.run_dir))] == [1, 2, 3, 4]
    run(scenario())
