"""`tui-trainer train --nproc N`: one run on N processes of this machine, started by PyTorch's own
elastic launcher (what `torchrun` runs), each process a `tui-trainer train` rank.

This process is torchrun's agent: it starts the ranks, watches them, and when one dies tears the
others down (SIGTERM, then SIGKILL after 30 s). The user then sees one line naming the rank that
failed and how to resume, instead of the agent's report. Several machines use torchrun itself (the
README's lines); the ranks are the same either way.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from ..ports import bind_problem
from ..text import shown
from ..training.distributed import LOST_CONTACT, process_range

RUN_NOTE_ENV = "TUI_TRAINER_RUN_NOTE"  # where rank 0 writes its run folder, for the failure line
# How long the agent waits, after passing on a Ctrl-C or SIGTERM, for the ranks to stop at their
# next agreed step and write last.pt before it kills them: torch's 30 s can be too short for an
# evaluation or a slow step of a large model.
SHUTDOWN_S = 300


class LaunchError(Exception):
    """Bad --nproc or --port; one line, exit 2."""


def processes(nproc: str, device_name: str) -> tuple[int, str]:
    """The number of processes `--nproc` asks for on this machine, and their device type. More
    processes than devices is refused."""
    auto, most, kind = process_range(device_name)
    if nproc == "auto":
        return auto, kind
    try:
        n = int(nproc)
    except ValueError:
        raise LaunchError(f"--nproc {nproc!r} is invalid: expected a number of processes or 'auto'") from None
    if n < 1:
        raise LaunchError(f"--nproc {n} is invalid: expected 1 or more")
    if n == 1:
        return n, kind
    if device_name == "mps":
        raise LaunchError("--nproc: MPS trains in one process (use --device cpu or cuda for several)")
    if n > most:
        what = f"{most} GPU(s), one process each" if kind == "cuda" else \
            f"{most} CPU cores, and each process needs one (give at most --nproc {most})"
        raise LaunchError(f"--nproc {n}: this machine has {what}")
    return n, kind


def check_port(port: int) -> None:
    """One line for a rendezvous port already taken, where torch's store would fail with a trace."""
    if problem := bind_problem(port):
        raise LaunchError(f"--port {port}: {problem} (another run or program holds it); "
                          f"choose another port, or leave --port out for a free one")


def rank_argv(args: argparse.Namespace) -> list[str]:
    """`tui-trainer train` as every rank runs it: the user's options without --nproc and --port."""
    argv = ["--resume", str(args.resume)] if args.resume else ["--preset", args.preset]
    for setting in args.set:
        argv += ["--set", setting]
    if args.epochs is not None:
        argv += ["--epochs", str(args.epochs)]
    if args.data is not None:
        argv += ["--data", args.data]
    argv += ["--device", args.device, "--runs", str(args.runs)]
    return argv + ["--json"] * args.json + ["--no-bell"] * args.no_bell


def launch(args: argparse.Namespace, n: int) -> int:
    """Run the ranks to their end; returns the exit code (rank 0's, or 1 with a line when a rank died)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    port = args.port or 0  # 0: c10d's store binds a free one itself, with no race for it
    note = Path(tempfile.mkstemp(prefix="tui-trainer-run-")[1])
    # Each process its share of the cores (torchrun's own default is one thread each).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // n)))
    os.environ[RUN_NOTE_ENV] = str(note)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=f"tui-trainer-{os.getpid()}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{port}", max_restarts=0,
                          monitor_interval=0.5, shutdown_timeout=SHUTDOWN_S)
    # The agent's own log lines (workers started, signals sent, its failure report) would bury the
    # run's output; what they say is told below in one line.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, sys.executable)("-m", "tui_trainer", "train", *rank_argv(args))
        return 0
    except ChildFailedError as e:
        return _failed(e, note.read_text().strip() or None, n)
    except SignalException as e:
        print(f"tui-trainer train: {signal.Signals(e.sigval).name}: the run's processes were asked to stop",
              file=sys.stderr)
        return 130
    finally:
        with contextlib.suppress(OSError):
            note.unlink()


def _failed(error, run_dir: str | None, n: int) -> int:  # noqa: ANN001 - a ChildFailedError
    """The ranks report their own failures (a stop, a divergence); a rank that died cannot."""
    died = {rank: f for rank, f in error.failures.items() if f.exitcode < 0}
    if not died:
        lost = _recorded_message(run_dir)  # rank 0 lost its peers, none died: left unsaid by rank 0
        if lost and LOST_CONTACT in lost:
            print(shown(f"tui-trainer train: {lost}"), file=sys.stderr)
        return max(f.exitcode for f in error.failures.values())
    rank, failure = min(died.items(), key=lambda item: item[1].timestamp)
    kept = run_dir is not None and (Path(run_dir) / "checkpoints" / "last.pt").is_file()
    line = f"rank {rank} (pid {failure.pid}) was killed by {failure.signal_name()}; the other processes were stopped"
    if kept:
        line += f", last.pt is kept; resume with: tui-trainer train --resume {run_dir} --nproc {n}"
    elif run_dir is not None:
        line += " before the first epoch ended (no last.pt to resume from)"
    print(shown(f"tui-trainer train: {line}"), file=sys.stderr)
    if run_dir:
        _record_failure(Path(run_dir), line)
    return 1


def _recorded_message(run_dir: str | None) -> str | None:
    from ..workspace.summary import read_summary

    try:
        summary = read_summary(Path(run_dir)) if run_dir else None
    except (OSError, ValueError):
        return None
    return summary.message if summary is not None else None


def _record_failure(run_dir: Path, line: str) -> None:
    """The run's summary says which rank died (rank 0 could only say it lost contact, or, killed
    itself, nothing at all)."""
    from ..workspace import folder
    from ..workspace.summary import read_summary, write_summary

    try:
        summary = read_summary(run_dir)
        if summary is not None and summary.state in ("live", "failed"):
            summary.state, summary.message = "failed", line
            write_summary(run_dir, summary)
        folder.clear_live(run_dir)
    except (OSError, ValueError):
        pass  # the line above said it; the listing marks a dead run failed anyway
