"""One or two lines on the state of the run: device, precision, speed, time and best score."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...text import shown
from ..session import RunSession

STATE_STYLES = {"training": "bold green", "paused": "bold yellow", "stopping": "bold yellow",
                "finished": "bold cyan", "stopped": "bold yellow", "failed": "bold red", "starting": "bold"}


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def status_text(session: RunSession | None) -> Text:
    if session is None:
        return Text("No run yet", style="dim")
    state = session.state()
    text = Text()
    text.append(f" {state.upper()} ", style=f"reverse {STATE_STYLES.get(state, 'bold')}")
    text.append(f" {shown(session.name)}", style="bold")
    if session.kind == "attached":
        text.append("  (attached: another process trains it)", style="dim")
    text.append("\n")
    started = session.started
    parts: list[tuple[str, str]] = []
    if started is not None:
        parts.append(("device", started.device.split(" (")[0]))
        parts.append(("precision", started.precision))
    if session.progress is not None:
        parts.append(("img/s", f"{session.progress.images_per_s:,.0f}"))
    elif session.epochs:
        parts.append(("img/s", f"{session.epochs[-1].images_per_s:,.0f}"))
    if session.plan is not None:
        parts.append(("budget", clock(session.plan["budget_s"])))
    parts.append(("elapsed", clock(session.elapsed())))
    if session.live:
        parts.append(("ETA", clock(session.eta())))
    best = "-" if session.best_acc is None else f"{session.best_acc:.2%} (epoch {session.best_epoch})"
    if session.best_val_acc is not None:  # validation chose the epoch: say so beside the test figure
        best = f"{session.best_acc:.2%} (epoch {session.best_epoch}, chosen on val {session.best_val_acc:.2%})"
    parts.append(("best", best))
    finished = session.finished
    if finished is not None and not finished.stopped and finished.final_acc is not None:
        # The figure the CLI ends on; with TTA it is not in the table, which has no TTA column.
        tta = started is not None and started.config["run"].get("tta")
        parts.append(("final (TTA)" if tta else "final", f"{finished.final_acc:.2%}"))
    for i, (label, value) in enumerate(parts):
        if i:
            text.append("  ")
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold" if label.startswith(("best", "final")) else "")
    return text


class StatusLine(Static):
    """Its height is set in CSS (two lines), so an update repaints it alone, without a layout pass."""

    def show(self, session: RunSession | None) -> None:
        self.update(status_text(session), layout=False)
