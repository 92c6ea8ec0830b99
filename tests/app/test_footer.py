"""Every screen's footer fits 80 columns: no binding it shows is cut off at 80x24."""
from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from .conftest import make_app, run, six_runs, wait_for


@pytest.mark.parametrize("key", ["f1", "f2", "f3", "f4"])
def test_footer_fits_80_columns(tmp_path, app_home, key):
    six_runs(tmp_path / "runs")

    async def scenario():
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen.query(FooterKey), 10, "the footer")
            await pilot.pause(0.5)
            keys = [k for k in app.screen.query(FooterKey) if k.display]
            shown = {k.description for k in keys}
            # The palette key sits at the right edge; every binding must end before it.
            palette = [k for k in keys if k.key == "ctrl+p"]
            limit = palette[0].region.x if palette else 80
            for k in keys:
                if k.key != "ctrl+p":
                    assert k.region.width > 0 and k.region.right <= limit, (k.description, k.region, limit)
            assert {"Setup", "Train", "Runs", "Search"} <= shown

    run(scenario())
