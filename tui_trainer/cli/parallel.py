"""`train --seeds N --parallel P`: a seed group's runs trained P at a time, each a `tui-trainer
train` process of its own with the cores split between them (torch's threads are per process, so
members cannot share one) and, on a machine with several CUDA GPUs, a GPU each in turn. Each
child trains one member (MEMBER_ENV names its group) and writes its output to a log beside the
runs; this process starts them, says how each is doing, and passes a stop on: a stop of one
member (Ctrl-C here, SIGTERM, an SSH drop, `x` in the app) stops the group, and `train --resume`
on any member cut continues them all, then the seeds not started."""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..text import shown
from ..training import device
from ..training.detached_run import preset_file
from ..training.seed_group import Member, SeedGroup, cut_members
from ..workspace import folder
from ..workspace.summary import read_summary
from .common import EXIT_FAILED, EXIT_STOPPED
from .launch import RUN_NOTE_ENV

MEMBER_ENV = "TUI_TRAINER_SEED_GROUP"  # "id seed seed ...": this process trains one member of that group
POLL_S = 0.5
PROGRESS_EVERY_S = 15.0


def member_of_env() -> tuple[str, list[int]] | None:
    """The (group id, seeds) a parallel group's child trains a member of, or None."""
    raw = os.environ.get(MEMBER_ENV)
    if not raw:
        return None
    group, *seeds = raw.split()
    return group, [int(s) for s in seeds]


@dataclass
class _Child:
    member: Member
    proc: subprocess.Popen
    log: Path
    note: Path  # where the child writes its run folder
    slot: int  # its place among the children running
    run_dir: Path | None = None
    said_epochs: int = 0


def train_parallel(args: argparse.Namespace, group: SeedGroup, name: str) -> int:
    width = min(args.parallel, len(group.todo))
    threads = max(1, len(os.sched_getaffinity(0)) // width)
    gpus = device.gpu_count(args.device)
    slots = list(range(width))  # a running child's place: its GPU, where there are several
    pending = group.runs_dir / ".pending" / group.id
    pending.mkdir(parents=True, exist_ok=True)
    on = f", one of {gpus} GPUs each" if gpus > 1 else ""
    print(shown(f"seed group {group.id}: {len(group.todo)} run(s), {width} at a time, {threads} thread(s) each{on}; "
                f"their logs in {pending}"), file=sys.stderr, flush=True)
    stopping = False

    def stop(signum, frame) -> None:  # noqa: ANN001, ARG001
        nonlocal stopping
        if stopping:  # a second one: the user means it
            for child in running:
                child.proc.send_signal(signal.SIGINT)
            raise KeyboardInterrupt
        stopping = True
        print(f"{signal.Signals(signum).name}: stopping the group's runs at their next step; each saves last.pt ...",
              file=sys.stderr, flush=True)
        for child in running:
            child.proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    todo, running, codes = list(group.todo), [], []
    next_progress = time.monotonic() + PROGRESS_EVERY_S
    try:
        while running or (todo and not stopping):
            while todo and len(running) < width and not stopping:
                running.append(_start(args, group, name, todo.pop(0), pending, threads, slots.pop(0)))
                if stopping:  # a stop that came while it started
                    running[-1].proc.send_signal(signal.SIGTERM)
            time.sleep(POLL_S)
            for child in list(running):
                if child.run_dir is None:
                    child.run_dir = _run_dir_of(child)
                if child.proc.poll() is None:
                    continue
                running.remove(child)
                slots.append(child.slot)
                codes.append(child.proc.returncode)
                _say_end(child)
                if child.proc.returncode != 0 and not stopping:  # a stop or a failure of one stops the group
                    print("a run of the group ended early: stopping the others at their next step ...",
                          file=sys.stderr, flush=True)
                    stopping = True
                    for other in running:
                        other.proc.send_signal(signal.SIGTERM)
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_S
                for child in running:
                    _say_progress(child)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if todo:
        cut = next(iter(cut_members(group.runs_dir, group.id)), None)
        how = f"`tui-trainer train --resume {cut}` continues the runs cut, then them" if cut else "train them again"
        print(shown(f"the seed group stopped with {len(todo)} run(s) not started; {how}"), file=sys.stderr)
    if not todo and not any(codes):
        shutil.rmtree(pending, ignore_errors=True)  # its logs and preset files: kept only when a run did not finish
    if any(code == EXIT_FAILED for code in codes):
        return EXIT_FAILED
    return EXIT_STOPPED if stopping or any(codes) else 0


def _start(args: argparse.Namespace, group: SeedGroup, name: str, member: Member, pending: Path,
           threads: int, slot: int) -> _Child:
    if member.cfg is not None:
        preset = preset_file(pending / f"seed-{member.cfg.run.seed}", name, member.cfg)
        cli = ["train", "--preset", str(preset)] + (["--data", group.data] if group.data else [])
        log = pending / f"seed-{member.cfg.run.seed}"
    else:
        cli = (["train", "--resume", str(member.resume)] + (["--data", group.data] if group.data else [])
               + (["--epochs", str(args.epochs)] if args.epochs is not None else []))
        log = pending / member.resume.name
    cli += ["--runs", str(group.runs_dir), "--device", args.device, "--no-bell", "--json"]
    note, log = log.with_suffix(".run"), log.with_suffix(".log")
    note.unlink(missing_ok=True)
    # Each child its share of the cores; it writes its run folder into `note` once it has one.
    env = {**os.environ, MEMBER_ENV: " ".join([group.id, *map(str, group.seeds)]), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": str(threads), RUN_NOTE_ENV: str(note),
           **device.gpu_slot_env(args.device, slot)}
    print(shown(f"seed group {group.id}: starting {member.label}"), file=sys.stderr, flush=True)
    with open(log, "ab") as out:
        # A session of its own: the terminal's Ctrl-C reaches this process only, which passes one
        # stop on, rather than every child taking it and a second key aborting them.
        proc = subprocess.Popen([sys.executable, "-m", "tui_trainer", *cli], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return _Child(member, proc, log, note, slot, member.resume)


def _run_dir_of(child: _Child) -> Path | None:
    try:
        return Path(child.note.read_text()) if child.note.stat().st_size else None
    except OSError:
        return None


def _say_progress(child: _Child) -> None:
    if child.run_dir is None:
        return
    metrics = folder.read_metrics(child.run_dir)
    if len(metrics) > child.said_epochs:
        child.said_epochs = len(metrics)
        last = metrics[-1]
        test = f", test {last.test_acc:.2%}" if last.test_acc is not None else ""
        print(shown(f"  {child.member.label}: epoch {last.epoch}{test}"), file=sys.stderr, flush=True)


def _say_end(child: _Child) -> None:
    run_dir = child.run_dir or _run_dir_of(child)
    summary = None
    if run_dir is not None:
        try:
            summary = read_summary(run_dir)
        except ValueError:
            pass
    if summary is not None and summary.state == "finished":
        final = f"final {summary.final_acc:.2%}" if summary.final_acc is not None else "no test score"
        said = f"finished, {final} ({run_dir.name})"
    else:
        lines = child.log.read_text(errors="replace").strip().splitlines() if child.log.exists() else []
        last = next((ln for ln in reversed(lines) if not ln.startswith("{")), f"exit {child.proc.returncode}")
        state = summary.state if summary is not None else "ended"
        said = f"{state}: {last}" + (f" ({run_dir.name})" if run_dir else f"; see {child.log}")
    print(shown(f"seed group: {child.member.label} {said}"), file=sys.stderr, flush=True)
