"""Command line: the app (no subcommand), train, eval, predict, export, presets, runs, note, tag, stop.

Exit codes: 0 done, 1 the run or evaluation failed, 2 bad input (one line naming the field or
file and what is allowed), 130 stopped by the user. Never a traceback for a user's mistake.
Torch is imported only by the commands that need it, so errors and listings come back at once.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from .. import locations, presets
from . import search
from . import queue
from ..config import Config, ConfigError, check_field
from ..text import shown
from ..workspace import folder

EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 1, 2, 130
FILTER_USAGE = ("--filter takes the Runs screen's syntax: words, tag:NAME, state:NAME, preset:NAME, "
                "KEY>VALUE with > >= < <= = != (best_acc>0.85 or >85%%, optimizer.lr<0.5), !TERM; "
                "see the README")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, like every other bad input
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tui-trainer", description="Train CIFAR-10 classifiers from the terminal.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", default=None, help="data folder, or 'synthetic' (default: $TUI_TRAINER_DATA or ~/.cache/tui-trainer/data)")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")

    def runs_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--runs", type=Path, default=locations.default_runs(), help="runs folder (default: ./runs)")

    data_options(parser)
    runs_option(parser)
    parser.add_argument("--preset", help="the app opens with this preset (name or .toml file) loaded")
    parser.add_argument("--no-bell", action="store_true", help="no terminal bell when a run ends")
    parser.add_argument("--detach-runs", action="store_true", help=argparse.SUPPRESS)  # the served app's

    sv = sub.add_parser("serve", help="serve the app to a web browser (textual-serve), behind a token")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument("--token", help="the URL's token (default: a new random one)")
    sv.add_argument("--preset", help="the app opens with this preset (name or .toml file) loaded")

    train = sub.add_parser("train", help="train a preset headless")
    train.add_argument("--preset", help="preset name or path to a .toml file")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. optimizer.lr=0.01")
    train.add_argument("--epochs", type=int, help="shorthand for --set run.epochs=N")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last.pt")
    train.add_argument("--json", action="store_true", help="one JSON object per epoch and a final summary")
    train.add_argument("--no-bell", action="store_true", help="no terminal bell when the run ends")
    train.add_argument("--nproc", metavar="N", help="train on N processes of this machine (torch.distributed: "
                       "gloo on CPU, one GPU each with nccl); auto: every GPU when there are several")
    train.add_argument("--port", type=int, help="with --nproc: the rendezvous port (default: a free one)")
    data_options(train)
    runs_option(train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on the test split")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--tta", action="store_true", help="flip + translate test-time augmentation")
    ev.add_argument("--json", action="store_true")
    data_options(ev)

    pr = sub.add_parser("predict", help="predict the class of image files with a checkpoint")
    pr.add_argument("checkpoint", type=Path)
    pr.add_argument("images", type=Path, nargs="+", metavar="IMAGE_OR_DIR",
                    help="image files, or folders (searched recursively)")
    pr.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per image (default: 3)")
    pr.add_argument("--tta", action="store_true", help="flip + translate test-time augmentation")
    pr.add_argument("--json", action="store_true", help="one JSON object per image, then a summary")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")

    ex = sub.add_parser("export", help="export a checkpoint as ONNX, a torch.export program or safetensors")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("--format", required=True, choices=("onnx", "safetensors", "pt2"))
    ex.add_argument("-o", "--output", type=Path, metavar="PATH",
                    help="where to write (default: next to the checkpoint, e.g. best.onnx)")

    lf = sub.add_parser("lr-find", help="LR range test: the loss as the LR rises, and a suggested LR",
                        description="Train a throwaway copy of the configured model for --steps steps while every "
                                    "peak LR rises exponentially together; suggest the LR where the loss falls "
                                    "fastest (steepest descent). Nothing is written.")
    lf.add_argument("--preset", help="preset name or path to a .toml file")
    lf.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    lf.add_argument("--steps", type=int, default=100, help="steps of the sweep (default: 100)")
    lf.add_argument("--json", action="store_true", help="the whole curve and the suggestion as one JSON object")
    data_options(lf)

    sub.add_parser("presets", help="list presets")
    ls = sub.add_parser("runs", help="list runs: state, epochs, best and final accuracy, tags",
                        description="List the runs of a runs folder. " + FILTER_USAGE)
    out = ls.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="a JSON array: one object per run with every setting")
    out.add_argument("--csv", action="store_true", help="CSV: one row per run, summary columns then every setting")
    ls.add_argument("--metrics", action="store_true", help="with --csv: every epoch of every run (long format)")
    ls.add_argument("--filter", metavar="EXPR", help="only runs matching EXPR, e.g. 'best_acc>0.85 tag:baseline'")
    runs_option(ls)

    note = sub.add_parser("note", help="set a run's note (an empty text clears it)")
    note.add_argument("run_dir", type=Path)
    note.add_argument("text")
    tag = sub.add_parser("tag", help="add or remove a run's tags (none given: list them)")
    tag.add_argument("run_dir", type=Path)
    tag.add_argument("--add", action="append", default=[], metavar="TAG")
    tag.add_argument("--remove", action="append", default=[], metavar="TAG")

    stop = sub.add_parser("stop", help="stop a live run (it saves last.pt first)")
    stop.add_argument("run_dir", type=Path)

    data_options(sv)
    runs_option(sv)
    queue.add_parser(sub, data_options, runs_option)
    search.add_parser(sub, data_options, runs_option)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = args.command or "app"
        return COMMANDS[command](args)
    except UsageError as e:
        print(shown(e), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        print(shown(f"tui-trainer: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tui-trainer: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # `tui-trainer runs | head`
        sys.stderr.close()
        return 0
    except OSError as e:
        print(shown(f"tui-trainer: {e.filename or ''}: {e.strerror or e}"), file=sys.stderr)
        return EXIT_FAILED


def resolve_config(args: argparse.Namespace) -> tuple[Config, str]:
    if args.resume:
        if args.preset or args.set:
            raise UsageError("tui-trainer train: --resume continues a run with its own config; drop --preset and --set")
        if args.epochs is not None:
            check_field("run.epochs", args.epochs)
        if not (args.resume / folder.CONFIG).is_file():
            raise UsageError(f"tui-trainer train: --resume {args.resume}: not a run folder (no {folder.CONFIG})")
        if not (args.resume / "checkpoints" / "last.pt").is_file():
            raise UsageError(f"tui-trainer train: --resume {args.resume}: no checkpoints/last.pt to resume from "
                             f"(the run ended before its first epoch did); start it again instead")
        if args.data is None and folder.run_data(args.resume).source is None:
            raise UsageError(f"tui-trainer train: {args.resume} does not record the data it was trained on (an older "
                             f"run): give --data DIR or --data synthetic")
        return None, args.resume.name
    if not args.preset:
        raise UsageError("tui-trainer train: --preset NAME|FILE is required (see `tui-trainer presets`)")
    return presets.resolve(args.preset, args.set, args.epochs)


def data_folder(data: str | None, command: str) -> str:
    """The data source a command reads: --data as given, else the default folder. A folder named
    with --data that does not exist is a typo, not a place to download CIFAR-10 into."""
    if data is None:
        return locations.default_data()
    if data != "synthetic" and not Path(data).expanduser().is_dir():
        raise UsageError(f"tui-trainer {command}: --data {data}: no such folder (create it first to have CIFAR-10 "
                         f"downloaded there, or give --data synthetic)")
    return data


def cmd_train(args: argparse.Namespace) -> int:
    cfg, name = resolve_config(args)
    from . import launch
    from ..training import distributed
    from ..control import RunControl
    from ..training.device import resolve
    from ..events import RunFailed
    from ..training.preflight import check_new_run
    from ..training.trainer import Trainer
    from .train_output import make_reporter

    try:
        place = resolve(args.device)
        if cfg is not None:  # a new run: what would fail after the data load fails now, with no run folder
            check_new_run(cfg, data_folder(args.data, "train"))
        n, _ = launch.processes(args.nproc or "1", args.device)
        if distributed.launched() and args.nproc is not None:
            raise launch.LaunchError("--nproc starts the processes itself; under torchrun, "
                                              "give torchrun --nproc-per-node instead")
        world = n if not distributed.launched() else int(os.environ["WORLD_SIZE"])
        if args.port is not None:
            if n == 1:
                raise launch.LaunchError("--port is for --nproc 2 or more")
            launch.check_port(args.port)
        if world > 1:  # the resumed run's own config decides its batch; a missing one is the trainer's to report
            run_cfg = cfg or (folder.read_config(args.resume) if (args.resume / folder.CONFIG).is_file() else None)
            if run_cfg is not None:
                distributed.check_split(run_cfg, world, place.device.type)
    except (ValueError, launch.LaunchError, distributed.DistributedError) as e:  # ConfigError too
        raise UsageError(f"tui-trainer train: {e}") from None
    if n > 1:
        return launch.launch(args, n)
    try:
        group = distributed.join(args.device)
    except distributed.DistributedError as e:
        raise UsageError(f"tui-trainer train: {e}") from None
    control = RunControl()
    # Rank 0 shows the run; the other ranks of a run on several processes train their share silently.
    reporter = make_reporter(args.json) if group.main else None
    note = reporter.note if reporter else lambda text: None

    def on_signal(signum, frame):  # noqa: ARG001
        if control.stop_requested:
            raise KeyboardInterrupt  # a second Ctrl-C: the user means it
        note(f"{signal.Signals(signum).name}: stopping at the next step and saving last.pt ...")
        control.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # A resumed run without --data trains on the data it recorded; the first line says which.
    trainer = Trainer(cfg, data=args.data, runs_dir=args.runs, preset=name, device_name=args.device,
                      sink=_under_launcher(reporter) if reporter else None, control=control, resume=args.resume,
                      epochs=args.epochs if args.resume else None, group=group)
    with reporter or contextlib.nullcontext():
        try:
            result = trainer.run()
        finally:
            group.close()
    if reporter is None:
        # Rank 0 reports, and exits with, what all ranks agreed on (a stop, a divergence): were the
        # others to exit non-zero first, torchrun's agent would tear rank 0 down as it finishes.
        # A lost peer is the launcher's to name.
        if isinstance(result, RunFailed) and not trainer.failure_agreed:
            if distributed.LOST_CONTACT not in result.message:
                print(shown(f"tui-trainer train: rank {group.rank}: {result.message}"), file=sys.stderr, flush=True)
            return EXIT_FAILED
        return 0
    announce_end(result, bell=not args.no_bell, note=reporter.note)
    return reporter.exit_code(result)


def _under_launcher(sink):  # noqa: ANN001, ANN202 - the reporter, wrapped
    """Rank 0 of a --nproc run tells the launcher its run folder, and leaves a lost peer to the
    launcher's line, which can name the rank that died."""
    from .launch import RUN_NOTE_ENV
    from ..training.distributed import LOST_CONTACT
    from ..events import RunFailed, RunStarted

    note = os.environ.get(RUN_NOTE_ENV)
    if not note:
        return sink

    def told(event) -> None:  # noqa: ANN001
        if isinstance(event, RunStarted):
            Path(note).write_text(event.run_dir)
        if not (isinstance(event, RunFailed) and LOST_CONTACT in event.message):
            sink(event)
    return told


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


def cmd_eval(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..training.checkpoints import CheckpointError
    from ..training.evaluate import evaluate_checkpoint

    # Without --data, a checkpoint is evaluated on the data its run recorded (the run folder is
    # two levels up: RUN/checkpoints/best.pt), else on the default data folder.
    data = args.data or folder.run_data(args.checkpoint.resolve().parent.parent).source or locations.default_data()
    try:
        result = evaluate_checkpoint(args.checkpoint, data, args.device, tta=args.tta)
    except (CheckpointError, DataError) as e:
        print(shown(f"tui-trainer eval: {e}"), file=sys.stderr)
        return EXIT_FAILED
    except ValueError as e:
        raise UsageError(f"tui-trainer eval: {e}") from None
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(f"{shown(args.checkpoint)}: accuracy {result.accuracy:.2%} on {result.n} test images"
          f"{' (TTA)' if args.tta else ''}, loss {result.loss:.4f}")
    classes = [shown(c) for c in result.classes]
    width = max(len(c) for c in classes)
    for name, acc in zip(classes, result.per_class):
        print(f"  {name:<{width}}  {acc:6.1%}")
    print("confusion (rows: true, columns: predicted)")
    print("  " + " ".join(f"{c[:5]:>5}" for c in classes))
    for name, row in zip(classes, result.confusion):
        print(f"  {' '.join(f'{v:5d}' for v in row)}  {name}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"tui-trainer predict: --top {args.top} is invalid: expected 1 or more")
    from ..training.checkpoints import CheckpointError
    from ..training.predict import predict_images

    try:
        result = predict_images(args.checkpoint, args.images, args.device, top=args.top, tta=args.tta)
    except CheckpointError as e:
        print(shown(f"tui-trainer predict: {e}"), file=sys.stderr)
        return EXIT_FAILED
    except ValueError as e:
        raise UsageError(f"tui-trainer predict: {e}") from None
    for bad in result.unreadable:
        print(shown(f"tui-trainer predict: {bad.path}: {bad.reason}"), file=sys.stderr)
    if not result.predictions:
        if not result.unreadable:
            print(shown(f"tui-trainer predict: no image files in {', '.join(map(str, args.images))}"), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        for p in result.predictions:
            print(json.dumps(p.to_json()))
        print(json.dumps(result.summary_json()))
        return 0
    tta = " (TTA)" if args.tta else ""
    if len(result.predictions) == 1 and not any(p.is_dir() for p in args.images):
        p = result.predictions[0]
        print(f"{shown(p.path)}: {shown(p.best.name)} {p.best.probability:.1%}{tta}")
        width = max(len(shown(g.name)) for g in p.top)
        for g in p.top:
            print(f"  {shown(g.name):<{width}}  {g.probability:6.1%}  {'█' * round(g.probability * 30)}")
        return 0
    rows = [(shown(p.path), shown(p.best.name), f"{p.best.probability:.1%}",
             ", ".join(f"{shown(g.name)} {g.probability:.1%}" for g in p.top[1:])) for p in result.predictions]
    head = ("path", "class", "prob", f"next {len(result.predictions[0].top) - 1}" if args.top > 1 else "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip())
    counts = {shown(name): n for name, n in result.counts().items()}
    print(f"\ntop-1 counts over {len(result.predictions)} images{tta}"
          + (f" ({len(result.unreadable)} unreadable)" if result.unreadable else "") + ":")
    width = max(len(name) for name in counts)
    for name, n in counts.items():
        print(f"  {name:<{width}}  {n:5d}  {n / len(result.predictions):6.1%}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..training.checkpoints import CheckpointError
    from ..training.export import ExportError, export_checkpoint

    try:
        result = export_checkpoint(args.checkpoint, args.format, args.output)
    except (CheckpointError, ExportError) as e:  # MissingExtra too: exit 1, as a run lacking tensorboard
        print(shown(f"tui-trainer export: {e}"), file=sys.stderr)
        return EXIT_FAILED
    print(shown(f"wrote {result.path}" + (f" and {result.sidecar}" if result.sidecar else "")))
    print(f"checked on {result.checked} random images: largest logit difference {result.max_abs_diff:.2g} "
          f"(tolerance {result.tolerance:g}), top-1 {'agrees' if result.top1_agree else 'DIFFERS'}")
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UsageError("tui-trainer lr-find: --preset NAME|FILE is required (see `tui-trainer presets`)")
    cfg, _ = presets.resolve(args.preset, args.set)
    from ..data import DataError
    from ..training.lr_find import find_lr

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rsweeping: step {done}/{total}")
            sys.stderr.flush()

    try:
        result = find_lr(cfg, data=args.data or locations.default_data(), device_name=args.device, steps=args.steps,
                         progress=progress)
    except DataError as e:
        print(shown(f"tui-trainer lr-find: {e}"), file=sys.stderr)
        return EXIT_FAILED
    except ValueError as e:
        raise UsageError(f"tui-trainer lr-find: {e}") from None
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
    if args.json:
        print(json.dumps(result.to_json()))
        return 0 if result.suggested_lr is not None else EXIT_FAILED
    if result.lrs:
        print(lr_find_plot(result))
    ended = f", stopped at step {result.steps_done}: the loss diverged" if result.diverged else ""
    print(f"{result.steps_done} steps in {result.seconds:.1f} s{ended}")
    if result.suggested_lr is None:
        print("no suggestion: too few steps before the loss diverged; try more --steps", file=sys.stderr)
        return EXIT_FAILED
    sets = [f"optimizer.lr={result.suggested_lr:.3g}"]
    if result.suggested_muon_lr is not None:
        sets.append(f"optimizer.muon_lr={result.suggested_muon_lr:.3g}")
    print(f"suggested ({result.rule}): " + ", ".join(s.replace("=", " = ") for s in sets))
    print("use it: " + " ".join(f"--set {s}" for s in sets))
    return 0


def lr_find_plot(result, width: int = 72, height: int = 16) -> str:  # noqa: ANN001 - an LRFindResult
    """The smoothed loss against log10(lr) as terminal text, the suggestion marked."""
    import math
    import re

    import plotext as plt

    from ..log_axis import log_ticks

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    xs = [math.log10(lr) for lr in result.lrs]
    plt.plot(xs, result.losses, marker="braille")
    if result.suggested_lr is not None:
        plt.vline(math.log10(result.suggested_lr))
    plt.xticks(*log_ticks(min(xs), max(xs)))
    plt.title("smoothed loss against optimizer.lr")
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())  # plain text: it may go to a file or a pipe


def cmd_presets(args: argparse.Namespace) -> int:  # noqa: ARG001
    found = presets.discover()
    width = max((len(shown(p.name)) for p in found), default=0)
    for p in found:
        where = "" if p.builtin else f"  [{p.path}]"
        print(shown(f"{shown(p.name):<{width}}  {p.description()}{where}"))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from ..workspace.listing import list_rows
    from ..workspace import tables
    from ..workspace.filter import FilterError, parse

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


def cmd_app(args: argparse.Namespace) -> int:
    from ..app.app import run_app

    return run_app(data=args.data or locations.default_data(), runs=args.runs, device=args.device, preset=args.preset,
                   bell=not args.no_bell, detach_runs=args.detach_runs)


def cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"tui-trainer serve: --port {args.port} is invalid: expected 1 to 65535")
    import importlib.util

    if importlib.util.find_spec("textual_serve") is None:
        print("tui-trainer serve: textual-serve is not installed: pip install 'tui-trainer[serve]'", file=sys.stderr)
        return EXIT_FAILED
    from ..ports import bind_problem
    from .serve import serve

    if problem := bind_problem(args.port, args.host):
        raise UsageError(f"tui-trainer serve: --port {args.port} on {args.host}: {problem}; choose another --port")
    return serve(host=args.host, port=args.port, data=args.data or locations.default_data(), runs=args.runs,
                 device=args.device, token=args.token, preset=args.preset)


COMMANDS = {"app": cmd_app, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "export": cmd_export,
            "presets": cmd_presets, "lr-find": cmd_lr_find, "serve": cmd_serve,
            "runs": cmd_runs, "note": cmd_note, "tag": cmd_tag, "stop": cmd_stop,
            "queue": queue.cmd_queue,
            "search": search.cmd_search}
