"""The commands over the runs folder: `runs` (list, filter, CSV/JSON), `note`, `tag`, `stop`, and
`presets`. None imports torch: they answer at once."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .. import presets
from ..text import shown
from ..workspace import folder
from .common import EXIT_FAILED, UsageError, runs_option

FILTER_USAGE = ("--filter takes the Runs screen's syntax: words, tag:NAME, state:NAME, preset:NAME, "
                "KEY>VALUE with > >= < <= = != (best_acc>0.85 or >85%%, optimizer.lr<0.5), !TERM; "
                "see the README")


def add_parsers(sub) -> None:  # noqa: ANN001 - the subparsers
    sub.add_parser("presets", help="list presets").set_defaults(run=cmd_presets)
    ls = sub.add_parser("runs", help="list runs: state, epochs, best and final accuracy, tags",
                        description="List the runs of a runs folder. " + FILTER_USAGE)
    out = ls.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="a JSON array: one object per run with every setting")
    out.add_argument("--csv", action="store_true", help="CSV: one row per run, summary columns then every setting")
    ls.add_argument("--metrics", action="store_true", help="with --csv: every epoch of every run (long format)")
    ls.add_argument("--filter", metavar="EXPR", help="only runs matching EXPR, e.g. 'best_acc>0.85 tag:baseline'")
    ls.add_argument("--group", choices=("settings", "preset", "study", "none"),
                    help="one row per group: runs equal but for the seed (settings), of a preset, of a study; "
                         "n, mean and 95%% interval of final and best accuracy")
    ls.add_argument("--baseline", metavar="RUN_OR_GROUP",
                    help="with groups (settings unless --group says): each group against this run's group, "
                         "Welch's t-test and a verdict")
    runs_option(ls)
    ls.set_defaults(run=cmd_runs)

    note = sub.add_parser("note", help="set a run's note (an empty text clears it)")
    note.add_argument("run_dir", type=Path)
    note.add_argument("text")
    note.set_defaults(run=cmd_note)
    tag = sub.add_parser("tag", help="add or remove a run's tags (none given: list them)")
    tag.add_argument("run_dir", type=Path)
    tag.add_argument("--add", action="append", default=[], metavar="TAG")
    tag.add_argument("--remove", action="append", default=[], metavar="TAG")
    tag.set_defaults(run=cmd_tag)

    stop = sub.add_parser("stop", help="stop a live run (it saves last.pt first)")
    stop.add_argument("run_dir", type=Path)
    stop.set_defaults(run=cmd_stop)


def cmd_presets(args: argparse.Namespace) -> int:  # noqa: ARG001
    """Each preset with its description and, where a calibration of this machine timed its net,
    what it takes here (`tui-trainer calibrate` times them)."""
    from .. import locations
    from ..config import ConfigError
    from ..data import estimate_train_size, training_images
    from ..training.speed_cache import seconds_here

    data = locations.default_data()
    train, test = estimate_train_size(data), estimate_train_size(data, "test")
    found = presets.discover()
    width = max((len(shown(p.name)) for p in found), default=0)
    for p in found:
        where = "" if p.builtin else f"  [{p.path}]"
        try:
            cfg = p.load()
            seconds = seconds_here(cfg, training_images(train, cfg.data), test) if train and test else None
        except ConfigError:
            seconds = None
        here = f"  (here: ~{seconds:.0f} s)" if seconds else ""
        print(shown(f"{shown(p.name):<{width}}  {p.description()}{here}{where}"))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from ..workspace import tables
    from ..workspace.filter import FilterError, parse
    from ..workspace.listing import list_rows

    rows = list_rows(args.runs)
    records = [r.record() for r in rows]
    if args.filter:
        try:
            chosen = parse(args.filter, {k for rec in records for k in rec} or None)
        except FilterError as e:
            raise UsageError(f"tui-trainer runs --filter: {e}") from None
        keep = [chosen.matches(rec) for rec in records]
        rows = [r for r, k in zip(rows, keep) if k]
        records = [rec for rec, k in zip(records, keep) if k]
    if args.group or args.baseline:
        return _grouped(args, rows)
    if args.metrics:
        if args.json:
            raise UsageError("tui-trainer runs: --metrics writes CSV (long format): use --metrics --csv")
        tables.metrics_csv(((r.name, dataclasses.asdict(m)) for r in rows for m in folder.read_metrics(r.path)),
                           sys.stdout)
        return 0
    if args.csv:
        tables.to_csv(records, sys.stdout)
        return 0
    if args.json:
        print(json.dumps(tables.to_json_rows(records)))
        return 0
    if not rows:
        print(shown(f"no runs in {args.runs}" + (f" match {args.filter!r}" if args.filter else "")))
        return 0
    for r in rows:
        s = r.summary
        best = f"{s.best_acc:.2%} at epoch {s.best_epoch}" if s.best_acc is not None else "no test score yet"
        if s.best_val_acc is not None:  # validation chose that epoch
            best += f" (chosen on validation {s.best_val_acc:.2%})"
        final = f"  final {s.final_acc:.2%}{' (TTA)' if s.final_tta else ''}" if s.final_acc is not None else ""
        planned = f"/{s.epochs_total}" if s.epochs_total else ""
        tags = f"  [{', '.join(r.tags)}]" if r.tags else ""
        problem = f"  ({r.problem})" if r.problem else ""
        print(shown(f"{r.name}  {r.state}  {s.epochs_done}{planned} epochs  best {best}{final}{tags}{problem}"))
    return 0


def run_folder(path: Path, command: str) -> Path:
    """`path` if the trainer made it: a folder that merely holds a config.toml (a user's project,
    say) is not one, and no notes.json is written into it."""
    if not folder.is_run_folder(path):
        raise UsageError(f"tui-trainer {command}: {path} is not a run folder (no {', '.join(folder.MARKS)})")
    return path


def cmd_note(args: argparse.Namespace) -> int:
    from ..workspace.notes import set_note

    notes = set_note(run_folder(args.run_dir, "note"), args.text)
    print(shown(f"{args.run_dir.name}: note {'saved' if notes.note else 'cleared'}"))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from ..workspace.notes import NotesError, edit_tags

    run_dir = run_folder(args.run_dir, "tag")
    if not args.add and not args.remove:
        from ..workspace.notes import read_notes
        print(shown(", ".join(read_notes(run_dir).tags) or "(no tags)"))
        return 0
    try:
        notes = edit_tags(run_dir, args.add, args.remove)
    except NotesError as e:
        raise UsageError(f"tui-trainer tag: {e}") from None
    print(shown(f"{run_dir.name}: tags {', '.join(notes.tags) or '(none)'}"))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from ..control import send_command

    pid = folder.live_pid(args.run_dir)
    if pid is None:
        print(shown(f"tui-trainer stop: {args.run_dir} is not training now"), file=sys.stderr)
        return EXIT_FAILED
    send_command(args.run_dir, "stop")
    print(shown(f"asked pid {pid} to stop {args.run_dir}; it saves last.pt first"))
    return 0


def _grouped(args: argparse.Namespace, rows: list) -> int:  # noqa: ANN001 - RunRows
    """`runs --group ... [--baseline ...]`: a row per group, with its interval and verdict."""
    from ..workspace import tables
    from ..workspace.groups import find_group, group_runs, with_baseline

    if args.metrics:
        raise UsageError("tui-trainer runs: --metrics lists epochs, not groups: drop --group/--baseline")
    groups = group_runs(rows, args.group or "settings")
    if args.baseline:
        baseline = find_group(groups, args.baseline)
        if baseline is None:
            raise UsageError(f"tui-trainer runs --baseline: no run or group {args.baseline!r} in {args.runs}"
                             + (" (among the filtered runs)" if args.filter else ""))
        with_baseline(groups, baseline)
    if args.json:
        print(json.dumps(tables.to_json_rows([g.to_json() for g in groups])))
        return 0
    if args.csv:
        tables.rows_csv([g.to_json() for g in groups], sys.stdout)
        return 0
    if not groups:
        print(shown(f"no runs in {args.runs}"))
        return 0
    for g in groups:
        print(shown(group_line(g, baseline=args.baseline is not None)))
    return 0


def group_line(g, baseline: bool) -> str:  # noqa: ANN001 - a workspace.groups.Group
    f = g.final
    if f.mean is None:
        acc = "no final accuracy"
    elif f.ci95 is None:
        acc = f"final {f.mean:.2%} (one run: no interval)"
    else:
        acc = f"final {f.mean:.2%} ± {(f.ci95[1] - f.mean):.2%} (95% CI, sd {f.sd:.2%})"
    versus = ""
    if baseline:
        versus = "  [baseline]" if g.comparison is None else f"  {g.comparison.verdict}"
    return f"{g.key}  n={g.n}  {acc}{versus}"
