"""The user's notify command, run when a run ends with its summary as JSON on stdin: enough for
a desktop notification or a webhook (`curl -d @- URL`). It runs in a shell, with a time limit,
and whatever it does never affects the run: a failure comes back as one line to report."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..text import clip
from ..workspace.summary import read_summary

TIMEOUT_S = 30.0


def run_summary(run_dir: Path | str | None, **extra) -> dict:
    """What the command gets: summary.json's fields, the run folder, and `extra` (e.g. the event)."""
    payload: dict = {"run_dir": str(run_dir) if run_dir else None}
    if run_dir is not None:
        try:
            summary = read_summary(Path(run_dir))
        except ValueError:
            summary = None
        if summary is not None:
            payload.update(summary.to_json())
    payload.update(extra)
    return payload


def run_notify_command(command: str, payload: dict) -> str | None:
    """Run `command` with `payload` on stdin; None when it succeeded, else why not (one line)."""
    try:
        done = subprocess.run(command, shell=True, input=json.dumps(payload), text=True, capture_output=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"notify_command did not finish within {TIMEOUT_S:.0f} s: {command}"
    except OSError as e:
        return f"notify_command could not start: {e.strerror or e}"
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return f"notify_command exited {done.returncode}" + (f": {clip(said[-1], 160)}" if said else "")
    return None


def notify_run_end(command: str, event) -> str | None:  # noqa: ANN001 - RunFinished | RunFailed
    """Run the notify command for a run that ended with `event`; why it failed, or None."""
    from ..events import to_record

    return run_notify_command(command, run_summary(event.run_dir, event=to_record(event)))
