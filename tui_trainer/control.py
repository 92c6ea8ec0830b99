"""Cooperative stop and pause, shared between the trainer and whoever drives it.

Threads cannot be killed, so the trainer polls these flags at every step. Another process (a
second `tui-trainer` attached to the run) drives the same flags through a small file in the
run folder, which the trainer reads a few times a second.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

CONTROL_FILE = "control"
COMMANDS = ("stop", "pause", "resume")


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._file: Path | None = None
        self._next_poll = 0.0

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        self.poll_file()
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: float = 0.25) -> None:
        self._running.wait(timeout)
        self.poll_file(force=True)

    def watch_file(self, run_dir: Path) -> None:
        self._file = Path(run_dir) / CONTROL_FILE

    def poll_file(self, force: bool = False) -> None:
        """Apply a command written by another process; reading a small file 4 times a second costs nothing."""
        now = time.monotonic()
        if self._file is None or (not force and now < self._next_poll):
            return
        self._next_poll = now + 0.25
        try:
            command = self._file.read_text().strip()
            self._file.unlink()
        except OSError:
            return
        {"stop": self.request_stop, "pause": self.pause, "resume": self.resume}.get(command, lambda: None)()


class ChildControl(RunControl):
    """One run of several (a queued run, a search trial): its own run folder's control file, as any
    run's, and the stop of whatever runs them. Stopping the run alone leaves the parent going."""

    def __init__(self, parent: RunControl):
        super().__init__()
        self.parent = parent

    def poll_file(self, force: bool = False) -> None:
        super().poll_file(force)
        if self.parent.stop_requested:
            self.request_stop()


def send_command(run_dir: Path, command: str) -> None:
    """Ask the process training in `run_dir` to stop, pause or resume."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}: expected one of {', '.join(COMMANDS)}")
    tmp = Path(run_dir) / f".{CONTROL_FILE}.{os.getpid()}"
    tmp.write_text(command)
    os.replace(tmp, Path(run_dir) / CONTROL_FILE)
