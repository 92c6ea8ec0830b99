"""The class report widget at 80x24: per-class scores and the most confused pairs."""
from __future__ import annotations

import re

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from tui_trainer.app.widgets.class_report import ClassReport, clip

from .conftest import run

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def confusion() -> list[list[int]]:
    """1000 test images a class, all right except cat → dog 112 and truck → automobile 30."""
    matrix = [[1000 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[3][3], matrix[3][5] = 888, 112
    matrix[9][9], matrix[9][1] = 970, 30
    return matrix


class ReportApp(App):
    def compose(self) -> ComposeResult:
        with VerticalScroll():  # as in the evaluation pane, which scrolls
            yield ClassReport("")


def test_class_report_shows_scores_and_most_confused_pairs_at_80x24():
    async def scenario():
        app = ReportApp()
        async with app.run_test(size=(80, 24)) as pilot:
            report = app.query_one(ClassReport)
            report.show(CLASSES, confusion())
            await pilot.pause()
            lines = [report.render_line(y).text.rstrip() for y in range(report.size.height)]
            text = "\n".join(lines)
            assert report.size.width <= 44 and max(map(len, lines)) <= 44
            assert re.search(r"^cat → dog +112$", text, re.M)
            assert re.search(r"^truck → automobile +30$", text, re.M)
            # dog: predicted 1000 + 112 times, right 1000 times: 1000/1112 = 89.9% precision
            assert re.search(r"^dog +89\.9% +100\.0% +94\.7% +1000$", text, re.M)
            # cat: precision 100%, recall 888/1000, F1 = 2 * 888 / (2 * 888 + 112) = 94.1%
            assert re.search(r"^cat +100\.0% +88\.8% +94\.1% +1000$", text, re.M)
            assert "macro F1 " in text and "over 10 classes" in text

            report.clear("evaluating…")
            await pilot.pause()
            assert report.render_line(0).text.strip() == "evaluating…"

    run(scenario())


def test_long_class_names_keep_both_ends_around_an_ellipsis():
    assert clip("automobile") == "automobile"
    assert clip("class_number_001_long") == "class_…01_long"
    assert clip("class_number_002_long") == "class_…02_long"
