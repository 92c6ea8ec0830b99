"""Pages the Runs screen shows in a dialog: its keys with the filter syntax, and two runs' settings
(and what differed in their environments) side by side. Rich renderables, built from the bindings,
the listing's records and the runs' environment.json."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from ...text import shown
from ...workspace.columns import diff_pair
from ...workspace.environment import differences
from ...workspace.environment import read as read_environment
from ...workspace.filter import FILTER_HELP
from ...workspace.listing import RunRow


def keys_help(bindings: list[Binding]) -> Table:
    keys = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    for binding in bindings:
        keys.add_row(Text(binding.key_display or binding.key, style="bold"), binding.description,
                     Text(binding.tooltip, style="dim"))
    body = Table.grid()
    body.add_row(keys)
    body.add_row(Text("\nFilter syntax", style="bold"))
    body.add_row(Text(FILTER_HELP))
    return body


def settings_diff(a: RunRow, b: RunRow) -> Table:
    """The settings that differ between two runs, then their results."""
    grid = Table(box=None, header_style="bold", padding=(0, 2, 0, 0))
    grid.add_column("setting")
    grid.add_column(Text(shown(a.name)), overflow="fold")
    grid.add_column(Text(shown(b.name)), overflow="fold")
    rows = diff_pair(a.record(), b.record())
    for key, left, right in rows:
        grid.add_row(Text(key), Text(left), Text(right), style="dim" if "." not in key else "")
    if all("." not in key for key, _, _ in rows):
        grid.add_row(Text("(the same settings)", style="dim"), "", "")
    # What they ran with: the reason two runs of the same settings and seed can differ.
    for key, left, right in differences(read_environment(a.path), read_environment(b.path)):
        grid.add_row(Text(f"environment: {key}", style="yellow"), Text(shown(left)), Text(shown(right)))
    return grid
