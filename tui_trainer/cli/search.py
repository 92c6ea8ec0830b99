"""`tui-trainer search STUDY.toml`: run, join, follow or stop an Optuna study (search/)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from ..text import shown
from .common import EXIT_FAILED, EXIT_STOPPED, UsageError, announce_study_end, data_options, runs_option


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    p = sub.add_parser("search", help="hyperparameter search: an Optuna study over a preset",
                       description="Run the study in STUDY.toml (see studies/ for examples). Each trial is an "
                                   "ordinary run, tagged with the study and trial number.")
    p.add_argument("study", type=Path, metavar="STUDY.toml")
    p.add_argument("--storage", metavar="URL", help="postgresql://..., mysql://..., sqlite:///FILE or a journal file "
                   "path that all workers share (default: a journal file in RUNS/studies/NAME/)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default: 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per finished trial, then a summary")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show the study's trials and the best, then exit")
    action.add_argument("--stop", action="store_true", help="stop the study: running trials save last.pt")
    action.add_argument("--detach", action="store_true",
                        help="run in the background, surviving logout; follow with --status or the app")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # a worker process of a lead
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    data_options(p)
    runs_option(p)
    p.set_defaults(run=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from ..search.lead import STORAGE_ENV, SearchPlaces, workers_problem
    from ..search.storage import StorageError
    from ..search.study_file import load_study

    if problem := workers_problem(str(args.workers)):
        raise UsageError(f"tui-trainer search: --workers {args.workers} is invalid: {problem}")
    spec = load_study(args.study)  # ConfigError: exit 2, one line
    # --storage, else what the lead handed its workers (not in argv: `ps` shows argv), else the file's
    url = args.storage or os.environ.get(STORAGE_ENV) or spec.storage
    places = SearchPlaces(spec, args.runs, url)
    try:
        if args.worker is not None:
            return _work(args, places)
        if args.status:
            return _status(args, places)
        if args.stop:
            return _stop(places)
        return _lead(args, places)
    except StorageError as e:
        print(shown(f"tui-trainer search: {e}"), file=sys.stderr)
        return EXIT_FAILED


def _lead(args: argparse.Namespace, places) -> int:  # noqa: ANN001
    from ..search.lead import Lead, final_lines, open_study, start_search

    spec = places.spec
    lead = Lead(places, workers=args.workers, data=args.data, device=args.device, json_lines=args.json)
    if (pid := places.lead_pid()) is not None or (not args.detach and not lead.claim()):
        print(shown(f"tui-trainer search: study {spec.name} is already running here" + (f" (pid {pid})" if pid else "")
              + f"; follow it with `tui-trainer search --status {args.study}` or stop it with --stop"), file=sys.stderr)
        return EXIT_FAILED
    study = open_study(places)  # at once: a bad storage URL is one line here, not in a worker's log
    if args.detach:
        pid, log = start_search(places, workers=args.workers, data=args.data, device=args.device)
        print(shown(f"study {spec.name} runs in the background (pid {pid}), log {log}"))
        print(f"follow it: tui-trainer search --status {args.study}   (or the app's Search screen, F4)")
        print(f"stop it:   tui-trainer search --stop {args.study}")
        return 0
    say = _printer(args.json)
    say(f"study {spec.name}: {spec.budget if spec.budget < 10_000 else 'unlimited'} trials of {spec.preset}, "
        f"{spec.sampler} sampler, {spec.pruner} pruner, maximizing {spec.objective} on "
        f"{f'{spec.validation:,} held-out training images' if spec.validation else 'the test set'}; {args.workers} worker(s); "
        f"storage {places.where()}")
    if problem := spec.pruning_problem():
        say(f"note: {problem}")
    rep, stopped = lead.run(study)
    if args.json:
        print(json.dumps(rep.final_json()), flush=True)
    else:
        for line in final_lines(rep):
            print(shown(line))
    announce_study_end(rep, bell=sys.stderr.isatty(), note=say)
    if stopped:
        return EXIT_STOPPED
    return EXIT_FAILED if rep.rows and rep.best is None and not rep.counts.get("pruned") else 0


def _work(args: argparse.Namespace, places) -> int:  # noqa: ANN001
    """A worker process: what a lead starts, N of them; it prints a line per trial event to its log."""
    from ..control import RunControl
    from ..data import DataError
    from ..search.worker import Worker

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    control = RunControl()
    signal.signal(signal.SIGINT, lambda *_: control.request_stop())
    signal.signal(signal.SIGTERM, lambda *_: control.request_stop())
    worker = Worker(places.spec, places.storage(), places.folder, runs=args.runs, data=args.data,
                    device=args.device, index=args.worker, control=control, lead=os.getppid(),
                    say=lambda line: print(f"[worker {args.worker} pid {os.getpid()}] {line}", flush=True))
    try:
        worker.run()
    except DataError as e:
        print(shown(f"tui-trainer search: {e}"), flush=True)
        return EXIT_FAILED
    return 0


def _status(args: argparse.Namespace, places) -> int:  # noqa: ANN001
    from ..search.lead import final_lines, look, trial_line

    view = look(places)
    if view.problem:
        print(shown(f"tui-trainer search: {view.problem}"), file=sys.stderr)
        return EXIT_FAILED
    if view.report is None:
        print(shown(f"tui-trainer search: no study {places.spec.name} in {places.where()} yet; "
              f"start it with `tui-trainer search {args.study}`"), file=sys.stderr)
        return EXIT_FAILED
    rep, pid = view.report, view.lead_pid
    if args.json:
        print(json.dumps({**rep.final_json(), "running_here": pid, "trials": [r.to_json() for r in rep.rows]}))
        return 0
    print(shown(f"study {rep.name}: " + (f"running here (pid {pid})" if pid else "not running here")
          + f"; {len(rep.rows)} of {places.spec.budget if places.spec.budget < 10_000 else 'unlimited'} trials"))
    for row in rep.rows:
        print(shown(("* " if rep.best is row else "  ") + trial_line(row)))
    for line in final_lines(rep):
        print(shown(line))
    if view.importances is not None:
        print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in view.importances.items()))
    return 0


def _stop(places) -> int:  # noqa: ANN001
    from ..search.lead import request_stop

    stopped = request_stop(places)
    pid = places.lead_pid()
    print(shown(f"study {places.spec.name}: stop asked" + (f" (lead pid {pid})" if pid else "")
          + (f"; stopping trials {', '.join(str(r.number) for r in stopped)} (each saves last.pt)" if stopped else "")))
    return 0


def _printer(json_mode: bool):  # noqa: ANN202
    """Progress lines: stdout normally, stderr under --json (stdout is for the JSON objects)."""
    def say(line: str) -> None:
        print(shown(line), file=sys.stderr if json_mode else sys.stdout, flush=True)
    return say
