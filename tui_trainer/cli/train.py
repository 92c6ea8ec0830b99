"""`tui-trainer train`: a preset (or a resumed run) trained headless, on one process or, with
--nproc, on several through torchrun (launch.py); its progress is train_output.py's."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from .. import presets
from ..config import Config, check_field
from ..text import shown
from ..workspace import folder
from .common import EXIT_FAILED, UsageError, announce_end, data_folder, data_options, runs_option, stop_on_signals


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
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
    train.set_defaults(run=cmd_train)


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


def cmd_train(args: argparse.Namespace) -> int:
    cfg, name = resolve_config(args)
    from ..control import RunControl
    from ..events import RunFailed, RunFinished
    from ..training import distributed
    from ..training.device import resolve
    from ..training.preflight import check_new_run
    from ..training.trainer import Trainer
    from . import launch
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
    # A resumed run without --data trains on the data it recorded; the first line says which.
    trainer = Trainer(cfg, data=args.data, runs_dir=args.runs, preset=name, device_name=args.device,
                      sink=_under_launcher(reporter) if reporter else None, control=control, resume=args.resume,
                      epochs=args.epochs if args.resume else None, group=group)
    stops = stop_on_signals(control.request_stop, lambda: control.stop_requested, note,
                            "stopping at the next step and saving last.pt ...")
    result = None
    with stops, reporter or contextlib.nullcontext():
        try:
            result = trainer.run()
        finally:
            group.close(together=isinstance(result, RunFinished))
    if reporter is None:
        # Rank 0 reports, and exits with, what all ranks agreed on (a stop, a divergence): were the
        # others to exit non-zero first, torchrun's agent would tear rank 0 down as it finishes.
        # A lost peer is the launcher's to name.
        code = 0
        if isinstance(result, RunFailed) and not trainer.failure_agreed:
            if distributed.LOST_CONTACT not in result.message:
                print(shown(f"tui-trainer train: rank {group.rank}: {result.message}"), file=sys.stderr, flush=True)
            code = EXIT_FAILED
    else:
        announce_end(result, bell=not args.no_bell, note=reporter.note)
        code = reporter.exit_code(result)
    if group.world > 1:
        # A rank leaves without the interpreter's teardown, its files written and its output
        # flushed: torch destroys its distributed objects there in no set order, and gloo aborted
        # ranks whose run had ended ("terminate called without an active exception"), now and then
        # on a loaded 2-core machine, even after the ranks met to leave the group.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _under_launcher(sink):  # noqa: ANN001, ANN202 - the reporter, wrapped
    """Rank 0 of a --nproc run tells the launcher its run folder, and leaves a lost peer to the
    launcher's line, which can name the rank that died."""
    from ..events import RunFailed, RunStarted
    from ..training.distributed import LOST_CONTACT
    from .launch import RUN_NOTE_ENV

    note = os.environ.get(RUN_NOTE_ENV)
    if not note:
        return sink

    def told(event) -> None:  # noqa: ANN001
        if isinstance(event, RunStarted):
            Path(note).write_text(event.run_dir)
        if not (isinstance(event, RunFailed) and LOST_CONTACT in event.message):
            sink(event)
    return told
