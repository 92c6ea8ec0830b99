"""What every command shares: exit codes, the one-line usage error, the --data/--device/--runs
options, the word at a run's end (bell and notify command), and the Ctrl-C that stops a run.

Exit codes: 0 done, 1 the run or evaluation failed, 2 bad input (one line naming the field or
file and what is allowed), 130 stopped by the user. Never a traceback for a user's mistake.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator

from .. import locations

EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 1, 2, 130


class UsageError(Exception):
    """Bad input: main prints the message, one line, and exits 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, like every other bad input
        raise UsageError(f"{self.prog}: {message}")


def data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="data folder, or 'synthetic' (default: $TUI_TRAINER_DATA or ~/.cache/tui-trainer/data)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")


def runs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=Path, default=locations.default_runs(), help="runs folder (default: ./runs)")


def checkpoint_data(checkpoint: Path, data: str | None) -> str:
    """The data a checkpoint is evaluated on: --data, else what its run recorded (the run folder
    is two levels up: RUN/checkpoints/best.pt), else the default data folder."""
    from ..workspace import folder

    return data or folder.run_data(checkpoint.resolve().parent.parent).source or locations.default_data()


def data_folder(data: str | None, command: str) -> str:
    """The data source a command reads: --data as given, else the default folder. A folder named
    with --data that does not exist is a typo, not a place to download CIFAR-10 into."""
    if data is None:
        return locations.default_data()
    if data != "synthetic" and not Path(data).expanduser().is_dir():
        raise UsageError(f"tui-trainer {command}: --data {data}: no such folder (create it first to have CIFAR-10 "
                         f"downloaded there, or give --data synthetic)")
    return data


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[], None], stopping: Callable[[], bool], note: Callable[[str], None],
                    what: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM asks the run to stop at its next step (it saves last.pt first) and says
    `what` happens; a second one is a KeyboardInterrupt: the user means it."""
    def on_signal(signum, frame) -> None:  # noqa: ANN001, ARG001
        if stopping():
            raise KeyboardInterrupt
        note(f"{signal.Signals(signum).name}: {what}")
        request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def announce_end(result, bell: bool, note) -> None:  # noqa: ANN001 - RunFinished | RunFailed, a printer
    """The bell (on a terminal) and the user's notify command, as the app does when a run ends."""
    from ..training.notify import notify_run_end

    _announce(bell, note, lambda command: notify_run_end(command, result))


def announce_study_end(report, bell: bool, note) -> None:  # noqa: ANN001 - a search StudyReport
    """Once for a whole study, not for each of its trials."""
    from ..training.notify import run_notify_command

    _announce(bell, note, lambda command: run_notify_command(command, {"event": "study", **report.final_json()}))


def _announce(bell: bool, note, notify) -> None:  # noqa: ANN001
    from ..settings import load_settings

    settings, problem = load_settings()
    if problem:
        note(problem)
    if bell and settings.bell and sys.stderr.isatty():
        sys.stderr.write("\a")
        sys.stderr.flush()
    if settings.notify_command and (failed := notify(settings.notify_command)):
        note(failed)
