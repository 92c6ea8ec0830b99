"""A checkpoint's calibration in the evaluation pane: ECE and MCE before and after temperature
scaling, and the reliability diagram as rows of bars (accuracy per confidence bin; a calibrated
model's bars end at the bin's confidence, marked │)."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...text import shown

BAR = 20  # characters for an accuracy of 100%


def diagram(title: str, rel) -> Table:  # noqa: ANN001 - a training.reliability.Reliability
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 0, 0, 1),
                  show_edge=False, header_style="bold")
    for name, justify in (("confidence", "left"), ("n", "right"), ("acc", "right"), ("", "left")):
        table.add_column(name, justify=justify, no_wrap=True)
    for b in rel.bins:
        filled, mark = round(b.accuracy * BAR), min(BAR - 1, int(b.confidence * BAR))
        bar = Text("".join("│" if i == mark else ("█" if i < filled else " ") for i in range(BAR)),
                   style="green" if abs(b.accuracy - b.confidence) < 0.05 else "yellow")
        table.add_row(f"{b.low:.2f}-{b.high:.2f}", str(b.count), f"{b.accuracy:.0%}", bar)
    return table


class ReliabilityView(Static):
    def show(self, calibration) -> None:  # noqa: ANN001 - a training.reliability.Calibration, or None
        self.display = calibration is not None  # no blank lines under an evaluation without one
        if calibration is None:
            self.update("")
            return
        c = calibration
        parts = [Text.assemble(("calibration", "bold"), f" on the test split: ECE {c.before.ece:.2%}  "
                                                        f"MCE {c.before.mce:.2%}")]
        if c.after is not None:
            parts += [Text.assemble(f"after T = {c.temperature:.3f}: ECE ", (f"{c.after.ece:.2%}", "bold green"),
                                    f"  MCE {c.after.mce:.2%}"),
                      Text(f"T fitted on {c.fitted_on:,} validation images, saved for predict and export", style="dim"),
                      diagram("before", c.before), diagram(f"after (logits / {c.temperature:.3f})", c.after)]
        else:
            parts += [Text(shown(c.note), style="dim"), diagram("reliability", c.before)]
        self.update(Group(*parts))
