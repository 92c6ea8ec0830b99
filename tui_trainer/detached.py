"""Work that outlives the app: a search, a queue, a run started from a browser.

Such work runs as a `tui-trainer` child process in a session of its own, writing to its own log
file, so that closing the app, an SSH hang-up (SIGHUP goes to the terminal's session) or a closed
browser tab never reaches it. The child marks itself live in its run or study folder and obeys
the control file there, as `tui-trainer train` does; whoever started it only attaches to it
through those files. One way to start it, for every kind of work.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path


def start_detached(args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start `tui-trainer ARGS` detached; its stdout and stderr go to `log`. Returns its pid."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tui_trainer", *args], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})  # its log, line by line
    # Reaped when it ends, so that an exited child is not a zombie that still answers kill(pid, 0)
    # and looks alive to live_pid() for as long as the app that started it runs.
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid
