"""`tui-trainer report RUN`: one self-contained HTML file of a run (tui_trainer/report/)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..text import shown
from .common import EXIT_FAILED, data_options


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    rp = sub.add_parser("report", help="write one self-contained HTML report of a run (curves, confusion, "
                                       "mistakes, calibration, settings)")
    rp.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    rp.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to write (default: RUN_DIR/report.html)")
    data_options(rp)
    rp.set_defaults(run=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..report.page import ReportError, write_report
    from ..training.checkpoints import CheckpointError

    if args.output is not None and args.output.is_dir():
        print(shown(f"tui-trainer report: {args.output} is a folder; give -o the path of a file to write"),
              file=sys.stderr)
        return EXIT_FAILED
    try:
        out = write_report(args.run_dir, args.output, data=args.data, device=args.device)
    except (ReportError, CheckpointError, DataError, OSError) as e:
        print(shown(f"tui-trainer report: {e}"), file=sys.stderr)
        return EXIT_FAILED
    print(shown(f"wrote {out} ({out.stat().st_size / 1024:,.0f} KB): open it in any browser, it needs no network"))
    return 0
