"""Command line: the app (no subcommand) and the commands of the modules beside this one: train,
eval / predict / export / lr-find (checkpoint.py), explain, runs / note / tag / stop / presets (runs.py),
serve, queue, search. See common.py for the exit codes.

Torch is imported only by the commands that need it, so errors and listings come back at once.
"""
from __future__ import annotations

import argparse
import sys

from .. import locations
from ..config import ConfigError
from ..text import shown
from . import checkpoint, explain, queue, report, runs, search, serve, train
from .common import EXIT_FAILED, EXIT_STOPPED, EXIT_USAGE, Parser, UsageError, data_options, runs_option


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tui-trainer", description="Train CIFAR-10 classifiers from the terminal.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    data_options(parser)
    runs_option(parser)
    parser.add_argument("--preset", help="the app opens with this preset (name or .toml file) loaded")
    parser.add_argument("--no-bell", action="store_true", help="no terminal bell when a run ends")
    parser.add_argument("--detach-runs", action="store_true", help=argparse.SUPPRESS)  # the served app's
    parser.set_defaults(run=cmd_app)
    serve.add_parser(sub)
    train.add_parser(sub)
    train.add_calibrate_parser(sub)
    checkpoint.add_parsers(sub)
    explain.add_parser(sub)
    report.add_parser(sub)
    runs.add_parsers(sub)
    queue.add_parser(sub)
    search.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
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


def cmd_app(args: argparse.Namespace) -> int:
    from ..app.app import run_app

    return run_app(data=args.data or locations.default_data(), runs=args.runs, device=args.device, preset=args.preset,
                   bell=not args.no_bell, detach_runs=args.detach_runs)
