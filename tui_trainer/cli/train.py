"""`tui-trainer train`: a preset (or a resumed run) trained headless, on one process or, with
--nproc, on several through torchrun (launch.py); its progress is train_output.py's."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
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
    train.add_argument("--budget", metavar="TIME", help="train for this long, start to exit: 90s, 3m, 1h or seconds "
                       "(run.budget_s); the plan picks the net and its epochs for this machine")
    train.add_argument("--seeds", type=int, metavar="N", help="train the same settings N times, with seeds run.seed, "
                       "run.seed+1, ...: a seed group, one run folder each, one after another (run.seeds)")
    train.add_argument("--parallel", type=int, metavar="N", help="with a seed group: train N of its runs at once, "
                       "the cores split between them (default 1: see BENCHMARKS.md for when more pays)")
    train.add_argument("--like", type=Path, metavar="RUN_DIR", help="train RUN_DIR's settings again, on the data "
                       "it recorded and with its thread count (--seed N: another seed; same seed, same CPU: the "
                       "same metrics; a budget run: the steps it took, as a fixed run)")
    train.add_argument("--seed", type=int, help="with --like: the seed (default: the run's)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last.pt (a seed "
                       "group's member: then the group's seeds not trained yet)")
    train.add_argument("--json", action="store_true", help="one JSON object per epoch and a final summary")
    train.add_argument("--no-bell", action="store_true", help="no terminal bell when the run ends")
    train.add_argument("--nproc", metavar="N", help="train on N processes of this machine (torch.distributed: "
                       "gloo on CPU, one GPU each with nccl); auto: every GPU when there are several")
    train.add_argument("--port", type=int, help="with --nproc: the rendezvous port (default: a free one)")
    data_options(train)
    runs_option(train)
    train.set_defaults(run=cmd_train, replay=None)  # replay: the steps of a budget run --like trains again


MAX_PARALLEL = 16


def resolve_config(args: argparse.Namespace) -> tuple[Config, str]:
    if args.parallel is not None and not 1 <= args.parallel <= MAX_PARALLEL:
        raise UsageError(f"tui-trainer train: --parallel {args.parallel}: allowed 1 to {MAX_PARALLEL}")
    if args.budget is not None and args.epochs is not None:
        raise UsageError("tui-trainer train: --budget plans the epochs itself: give --budget or --epochs, not both")
    if args.resume:
        if args.preset or args.set or args.budget or args.seeds:
            raise UsageError("tui-trainer train: --resume continues a run with its own config (a budget run on its "
                             "own clock, a seed group with its own seeds); drop --preset, --set, --budget and --seeds")
        if args.epochs is not None:
            check_field("run.epochs", args.epochs)
        if not (args.resume / folder.CONFIG).is_file():
            raise UsageError(f"tui-trainer train: --resume {args.resume}: not a run folder (no {folder.CONFIG})")
        if not (args.resume / "checkpoints" / "last.pt").is_file():
            raise UsageError(f"tui-trainer train: --resume {args.resume}: no checkpoints/last.pt to resume from "
                             f"(the run ended before its first epoch did); start it again instead")
        if args.epochs is not None and folder.read_config(args.resume).run.budget_s:
            raise UsageError(f"tui-trainer train: {args.resume} trains for a time budget and resumes on its own "
                             f"clock: drop --epochs")
        if args.data is None and folder.run_data(args.resume).source is None:
            raise UsageError(f"tui-trainer train: {args.resume} does not record the data it was trained on (an older "
                             f"run): give --data DIR or --data synthetic")
        return None, args.resume.name
    if args.like:
        return _like(args)
    if args.seed is not None:
        raise UsageError("tui-trainer train: --seed goes with --like RUN; for a preset, --set run.seed=N")
    if not args.preset:
        raise UsageError("tui-trainer train: --preset NAME|FILE is required (see `tui-trainer presets`)")
    sets = [*args.set, f"run.budget_s={args.budget}"] if args.budget is not None else args.set
    cfg, name = presets.resolve(args.preset, sets, args.epochs)
    if args.seeds is not None:
        try:
            cfg.set("run.seeds", args.seeds)
        except ValueError as e:  # a ConfigError: it names the range
            raise UsageError(f"tui-trainer train: --seeds: {e}") from None
    if cfg.run.budget_s and args.epochs is not None:
        raise UsageError("tui-trainer train: run.budget_s plans the epochs itself: drop --epochs")
    return cfg, name


def _like(args: argparse.Namespace) -> tuple[Config, str]:
    """`--like RUN [--seed N]`: RUN's config.toml again (its seed, or N), on its recorded data (unless
    --data) and, from its environment.json, with its thread count."""
    from ..workspace.summary import read_summary

    from ..training.trainer import BUDGET_STEPS, REPLAY_STEPS

    if args.resume or args.preset or args.set or args.budget or args.epochs is not None or args.seeds is not None:
        raise UsageError("tui-trainer train: --like trains RUN's own settings, one run: drop --preset, --set, "
                         "--epochs, --budget, --seeds and --resume (give --seed N for another seed)")
    run = args.like
    if not (run / folder.CONFIG).is_file():
        raise UsageError(f"tui-trainer train: --like {run}: not a run folder (no {folder.CONFIG})")
    cfg = folder.read_config(run)
    try:
        summary = read_summary(run)
    except ValueError:
        summary = None

    # A budget run's config holds the plan's net and epochs, its steps file where its clock was at
    # each step; a replay of one holds the same steps again.
    steps = BUDGET_STEPS if cfg.run.budget_s else REPLAY_STEPS if (run / REPLAY_STEPS).is_file() else None
    if steps is not None:
        import json

        try:
            recorded = json.loads((run / steps).read_text())
            args.replay = list(recorded["progress"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"tui-trainer train: --like {run}: a budget run is replayed from its {steps}, which "
                             f"cannot be read ({e}); train its preset with --budget again") from None
        state = summary.state if summary is not None else "unknown"
        if not args.replay or not recorded.get("complete", True) or state != "finished":
            raise UsageError(f"tui-trainer train: --like {run}: its {steps} does not hold every step of a finished "
                             f"run (state {state}); resume it to its end, or train its preset with --budget again")
        cfg.set("run.budget_s", 0)
    if args.seed is not None:
        cfg.set("run.seed", args.seed)  # ConfigError names the range
    cfg.set("run.seeds", 1)  # one run like it: a member of a seed group is trained again alone
    if args.data is None:
        args.data = folder.run_data(run).source
        if args.data is None:
            raise UsageError(f"tui-trainer train: --like {run}: it records no data source; give --data")
    import torch

    from ..workspace import environment

    threads = (environment.read(run) or {}).get("threads")
    if isinstance(threads, int) and threads > 0:  # the thread count decides how sums are split, so the last bits
        torch.set_num_threads(threads)
    return cfg, summary.preset if summary is not None else "custom"


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
        if n > 1 and cfg is not None and cfg.run.budget_s:
            raise launch.LaunchError("--budget trains on one process: drop --nproc")
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
    from ..training.seed_group import trains_group
    from .parallel import member_of_env

    one_of = member_of_env()  # a member that a parallel group's process trains alone
    grouped = one_of is None and trains_group(cfg, args.resume)
    if args.parallel is not None and not grouped:
        raise UsageError("tui-trainer train: --parallel N trains a seed group's runs at once: give --seeds N too")
    if n > 1:
        if grouped:
            raise UsageError("tui-trainer train: a seed group's runs train on one process each: drop --nproc")
        return launch.launch(args, n)
    if grouped and not distributed.launched():
        return _train_group(args, cfg, name)
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
                      epochs=args.epochs if args.resume else None, group=group, seed_group=one_of,
                      replay=args.replay)
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


def _train_group(args: argparse.Namespace, cfg: Config | None, name: str) -> int:
    """A seed group (`--seeds N`, run.seeds) trained here, one member after another, or, with
    --parallel N, as N processes at a time; `--resume MEMBER`: that member, then the rest."""
    from ..control import RunControl
    from ..training import seed_group
    from ..training.trainer import Trainer
    from .train_output import make_reporter

    try:
        group = (seed_group.resume_group(args.resume, args.data) if args.resume else
                 seed_group.new_group(cfg, name, args.runs, args.data))
    except ValueError as e:
        raise UsageError(f"tui-trainer train: {e}") from None
    if (args.parallel or 1) > 1:
        from .parallel import train_parallel

        code = train_parallel(args, group, name)
        _say_group(group)
        return code
    reporter = make_reporter(args.json)
    control = RunControl()
    stops = stop_on_signals(control.request_stop, lambda: control.stop_requested, reporter.note,
                            "stopping the group at the next step and saving last.pt ...")

    def train(member: seed_group.Member, k: int):  # noqa: ANN202 - RunFinished | RunFailed
        return Trainer(member.cfg, data=group.data, runs_dir=group.runs_dir, preset=name, device_name=args.device,
                       sink=reporter, control=control, resume=member.resume,
                       epochs=args.epochs if member.resume else None, seed_group=(group.id, group.seeds),
                       started_at=None if k == 0 else time.time()).run()  # a budget: each member its own

    with stops, reporter:
        done = seed_group.train_group(group, train, reporter.note if not args.json else lambda text: None,
                                      lambda: control.stop_requested)
    _say_group(group)
    announce_end(done[-1], bell=not args.no_bell, note=reporter.note)
    return reporter.exit_code(done[-1])


def _say_group(group) -> None:  # noqa: ANN001 - a training.seed_group.SeedGroup
    """The group's runs so far as `runs --group settings` lists them: n, mean and interval."""
    from ..workspace.groups import group_runs
    from ..workspace.listing import list_rows
    from .runs import group_line

    rows = [r for r in list_rows(group.runs_dir) if r.summary.group == group.id]
    for g in group_runs(rows, "settings"):
        print(shown(f"seed group: {group_line(g, baseline=False)}"), file=sys.stderr, flush=True)


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


def add_calibrate_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    cal = sub.add_parser("calibrate", help="measure and show how fast this machine trains the nets a budget "
                                           "plans with (--budget), and what budgets buy here")
    cal.add_argument("--preset", default="fast", help="the recipe to calibrate for (default: fast)")
    cal.add_argument("--show", action="store_true", help="only show what the cache holds; measure nothing")
    data_options(cal)
    cal.set_defaults(run=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..data import DataError, check_source, load_dataset
    from ..training import budget, calibration, speed_cache
    from ..training.device import resolve

    cfg, _ = presets.resolve(args.preset)
    try:
        place = resolve(args.device, cfg.run.precision)
    except ValueError as e:
        raise UsageError(f"tui-trainer calibrate: {e}") from None
    key = calibration.machine_key(place)
    source = data_folder(args.data, "calibrate")
    print(shown(f"this machine: {key}"))
    print(shown(f"cache: {speed_cache.cache_file()}"))
    try:
        data = load_dataset(source, cfg.data)
    except DataError as e:
        print(shown(f"tui-trainer calibrate: {e}"), file=sys.stderr)
        return EXIT_FAILED
    if not args.show:  # this process's own start-up, as a training process has it
        speed_cache.store_startup(key, time.time() - calibration.process_started())
    tables = budget.tables_for(cfg, len(data.train_x), check_source(source, cfg.data)[0])
    nets = budget.candidates(cfg, tables)
    if args.show:
        speeds = calibration.cached_speeds(cfg, nets, key)
    else:
        speeds, _ = calibration.speeds(cfg, nets, data, place, lambda text: print(shown(text)), refresh=True)
    for net, s in speeds.items():
        print(f"  {cfg.model.name} {'-'.join(map(str, net.widths)) or 'default'}, batch {net.batch_size}: "
              f"trains {s.train_ips:,.0f} img/s, evaluates {s.eval_ips:,.0f} img/s, builds in {s.build_s:.1f} s")
    if len(speeds) < len(nets):
        print("  (not all calibrated: run tui-trainer calibrate without --show)")
        return 0
    startup = float(speed_cache.read().get(key, {}).get("startup_s", 0.0))
    table_note = (f"the accuracy tables of {tables[0].preset} (batch {', '.join(str(t.batch_size) for t in tables)})"
                  if tables else "no accuracy table for these data and settings")
    print(shown(f"start-up to data loaded: {startup:.1f} s; {table_note}"))
    smallest = None
    for budget_s in (60, 120, 300, 600):
        try:
            p = budget.plan(cfg, budget_s, startup, speeds, len(data.train_x), len(data.test_x), tables)
        except ValueError as e:
            print(shown(f"  {budget_s // 60} min: {e}"))
            continue
        smallest = p.smallest_s
        print(shown(f"  {budget_s // 60} min: {p.describe().split(': ', 1)[1]}"))
    if smallest is not None:
        print(f"the smallest budget the table plans here: {smallest:.0f} s")
    return 0
