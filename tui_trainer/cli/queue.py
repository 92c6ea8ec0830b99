"""`tui-trainer queue add|list|remove|move|run|stop`: runs trained one after another.

The engine is workspace/queue.py (the store) and training/queue_runner.py (the runner); this is
its command line, with the exit codes of the rest (0, 1 a run failed or nothing to stop, 2 bad
input in one line, 130 stopped). Torch is imported inside the commands only.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

from ..text import shown
from ..workspace import queue as q
from .common import EXIT_FAILED, EXIT_STOPPED, UsageError, announce_end, data_options, runs_option, stop_on_signals

RECENT = 5  # done items `queue list` shows; --json gives them all


def item_id(text: str) -> int:
    """An item id as `queue list` shows it (#3) or bare (3)."""
    return int(text.removeprefix("#"))


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    p = sub.add_parser("queue", help="queue runs to train one after another, surviving the app and SSH drops",
                       description="Queue runs; `queue run --detach` trains them one after another in the "
                                   "background, each an ordinary run of the runs folder.")
    actions = p.add_subparsers(dest="action", required=True, metavar="{add,list,remove,move,run,stop}")

    add = actions.add_parser("add", help="queue a run (checked now, as train checks it)")
    add.add_argument("--preset", required=True, help="preset name or path to a .toml file")
    add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. optimizer.lr=0.01")
    add.add_argument("--epochs", type=int, help="shorthand for --set run.epochs=N")
    add.add_argument("--seeds", type=int, metavar="N", help="a seed group: the same settings N times, seeds run.seed, "
                     "run.seed+1, ..., one item (shorthand for --set run.seeds=N)")
    add.add_argument("--data", help="data folder or 'synthetic' for this run (default: the runner's --data)")
    runs_option(add)

    ls = actions.add_parser("list", help="queued runs in order, the runner and its current run, recent results")
    ls.add_argument("--json", action="store_true", help="one JSON object: runner, running, items, done")
    runs_option(ls)

    rm = actions.add_parser("remove", help="take a run off the queue")
    rm.add_argument("id", type=item_id, metavar="ID")
    runs_option(rm)

    mv = actions.add_parser("move", help="reorder: a run one place sooner or later, or to a position")
    mv.add_argument("id", type=item_id, metavar="ID")
    where = mv.add_mutually_exclusive_group(required=True)
    where.add_argument("--up", action="store_true", help="one place sooner")
    where.add_argument("--down", action="store_true", help="one place later")
    where.add_argument("--to", type=int, metavar="POSITION", help="to this place (1: next to run)")
    runs_option(mv)

    run = actions.add_parser("run", help="train the queued runs one after another until the queue is empty")
    run.add_argument("--detach", action="store_true", help="in the background: returns at once, logs to <runs>/queue/runner.log")
    run.add_argument("--json", action="store_true", help="train's JSON lines for each run, and a final summary")
    run.add_argument("--no-bell", action="store_true", help="no terminal bell when a run ends")
    data_options(run)
    runs_option(run)

    stop = actions.add_parser("stop", help="stop the runner: its current run saves last.pt, the rest stays queued")
    runs_option(stop)
    p.set_defaults(run=cmd_queue)


def cmd_queue(args: argparse.Namespace) -> int:
    from ..config import ConfigError

    command = {"add": _add, "list": _list, "remove": _remove, "move": _move, "run": _run, "stop": _stop}[args.action]
    try:
        return command(args)
    except q.QueueFileError as e:  # not the user's input: the file the queue lives in
        print(f"tui-trainer queue {args.action}: {e}", file=sys.stderr)
        return 1
    except (q.QueueError, ConfigError) as e:
        raise UsageError(f"tui-trainer queue {args.action}: {e}") from None


def _add(args: argparse.Namespace) -> int:
    queue = q.Queue(args.runs)
    sets = args.set + ([f"run.seeds={args.seeds}"] if args.seeds is not None else [])
    item = queue.add(args.preset, sets, args.epochs, args.data)
    state = queue.snapshot()
    position = next(i for i, it in enumerate(state.items, 1) if it.id == item.id)
    then = (f"the runner (pid {state.runner}) trains it in its turn" if state.runner is not None
            else "train the queue with: tui-trainer queue run --detach")
    print(shown(f"queued #{item.id} at position {position}: {item.describe()}; {then}"))
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..workspace.summary import read_summary

    state = q.Queue(args.runs).snapshot()
    progress = None
    if state.running is not None and state.running.run_dir:
        with contextlib.suppress(ValueError):
            progress = read_summary(Path(state.running.run_dir))
    if args.json:
        running = state.running.to_json() if state.running else None
        if running and progress is not None:
            running.update(epochs_done=progress.epochs_done, epochs_total=progress.epochs_total,
                           best_acc=progress.best_acc)
        print(json.dumps({"runs": str(args.runs), "runner": state.runner, "running": running,
                          "items": [i.to_json() for i in state.items], "done": [d.to_json() for d in state.done]}))
        return 0
    if state.runner is None:
        print("runner: not running" + (" (start it with: tui-trainer queue run --detach)" if state.items else ""))
    elif state.running is None:
        print(f"runner: pid {state.runner}, between runs")
    else:
        where = state.running.run_dir or "setting up"
        if progress is not None:
            best = f", best {progress.best_acc:.2%}" if progress.best_acc is not None else ""
            where += f" (epoch {progress.epochs_done}/{progress.epochs_total}{best})"
        print(shown(f"runner: pid {state.runner}, training #{state.running.item.id} {state.running.item.describe()}: {where}"))
    if state.items:
        print(f"queued ({len(state.items)}):")
        for position, item in enumerate(state.items, 1):
            print(shown(f"  {position:>2}. #{item.id}  {item.describe()}"))
    else:
        print("queued: none")
    if state.done:
        recent = state.done[-RECENT:]
        print(f"done ({len(recent)} most recent of {len(state.done)}):" if len(state.done) > RECENT else "done:")
        for d in recent:
            print(shown(f"  #{d.item.id}  {_outcome(d)}"))
    return 0


def _outcome(d: q.Done) -> str:
    best = f"  best {d.best_acc:.2%}" if d.best_acc is not None else ""
    final = f"  final {d.final_acc:.2%}" if d.final_acc is not None and d.state != "stopped" else ""
    why = f": {d.message}" if d.message and d.state in ("failed", q.INTERRUPTED) else ""
    return f"{d.state}{best}{final}  {d.run_dir or d.item.describe()}{why}"


def _remove(args: argparse.Namespace) -> int:
    item = q.Queue(args.runs).remove(args.id)
    print(shown(f"removed #{item.id}: {item.describe()}"))
    return 0


def _move(args: argparse.Namespace) -> int:
    queue = q.Queue(args.runs)
    if args.to is not None:
        index = queue.move_to(args.id, args.to - 1)
    else:
        index = queue.move(args.id, -1 if args.up else 1)
    print(f"#{args.id} is now at position {index + 1}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    pid = q.request_stop(args.runs)
    if pid is None:
        print(f"tui-trainer queue stop: no queue runner is live for {args.runs}", file=sys.stderr)
        return 1
    print(f"asked the queue runner (pid {pid}) to stop: its current run saves last.pt, "
          f"{len(q.Queue(args.runs).items())} queued runs stay queued")
    return 0


def _run(args: argparse.Namespace) -> int:

    if args.device != "auto":  # auto always resolves; another device is checked here, not in a log
        from ..training.device import resolve

        try:
            resolve(args.device)
        except ValueError as e:
            raise UsageError(f"tui-trainer queue run: {e}") from None
    try:
        if (pid := q.runner_pid(args.runs)) is not None:
            raise q.QueueBusy(pid, Path(args.runs) / q.QUEUE_DIR)
        if not q.Queue(args.runs).items():
            print(f"the queue of {args.runs} is empty: add runs with tui-trainer queue add --preset NAME")
            return 0
        return _detach(args) if args.detach else _run_here(args)
    except q.QueueBusy as e:  # also from the runner's own claim, when another started at the same moment
        print(shown(f"tui-trainer queue run: {e} (see tui-trainer queue list)"), file=sys.stderr)
        return 1


def _detach(args: argparse.Namespace) -> int:
    pid = q.start_runner(args.runs, data=args.data, device=args.device, as_json=args.json)
    log = Path(args.runs) / q.QUEUE_DIR / q.LOG_FILE
    print(f"queue runner started: pid {pid}, {len(q.Queue(args.runs).items())} queued runs")
    print(f"log: {log} (tail -f {log})")
    print(f"follow it with: tui-trainer queue list --runs {args.runs}, or the app's Runs screen (F3); "
          f"stop it with: tui-trainer queue stop --runs {args.runs}")
    return 0


def _run_here(args: argparse.Namespace) -> int:
    from ..control import RunControl
    from ..events import RunFailed, RunFinished
    from ..training.queue_runner import run_queue
    from .train_output import make_reporter

    control = RunControl()

    def note(text: str) -> None:
        print(shown(text), file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def output(item: q.QueueItem):
        if args.json:
            print(json.dumps({"event": "queue_item", **item.to_json()}), flush=True)
        else:
            print(shown(f"queue: #{item.id} {item.describe()}"), flush=True)
        reporter = make_reporter(args.json)
        ended: list[RunFinished | RunFailed] = []

        def sink(event) -> None:  # noqa: ANN001
            reporter(event)
            if isinstance(event, (RunFinished, RunFailed)):
                ended.append(event)

        with reporter:
            yield sink
        for result in ended:  # after the run, as train does: a slow notify command never holds it live
            announce_end(result, bell=not args.no_bell, note=reporter.note)

    def claimed(queued: int) -> None:  # said once the queue is this runner's, never before a refusal
        note(f"queue runner pid {os.getpid()}: training {queued} queued runs of {args.runs} "
             f"one after another (stop: Ctrl-C or tui-trainer queue stop)")

    with stop_on_signals(control.request_stop, lambda: control.stop_requested, note,
                         "stopping the current run at the next step (it saves last.pt); the rest stays queued ..."):
        summary = run_queue(args.runs, data=args.data, device=args.device, control=control, output=output,
                            claimed=claimed)
    failed = any(d.state == "failed" for d in summary.done)
    if args.json:
        print(json.dumps({"event": "queue_done", "ran": [d.to_json() for d in summary.done],
                          "stopped": summary.stopped, "left": summary.left}), flush=True)
    else:
        counts = ", ".join(f"{n} {state}" for state, n in Counter(d.state for d in summary.done).items())
        more = "; continue with: tui-trainer queue run" if summary.stopped and summary.left else ""
        print(shown(f"queue {'stopped' if summary.stopped else 'done'}: ran {len(summary.done)}"
              f"{f' ({counts})' if counts else ''}; {summary.left} left queued{more}"), flush=True)
    if summary.stopped:
        return EXIT_STOPPED
    return EXIT_FAILED if failed else 0
