"""The commands over one checkpoint: `eval`, `predict`, `export`, and `lr-find` (a sweep of the
configured model that writes nothing)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import locations, presets
from ..text import shown
from .common import EXIT_FAILED, UsageError, checkpoint_data, data_options


def add_parsers(sub) -> None:  # noqa: ANN001 - the subparsers
    ev = sub.add_parser("eval", help="evaluate a checkpoint on the test split (or its run's validation split)")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--split", choices=("test", "val"), default="test",
                    help="val: the training images its run held out (data.validation), drawn again the same")
    ev.add_argument("--tta", action="store_true", help="flip + translate test-time augmentation")
    ev.add_argument("--calibration", action="store_true",
                    help="also ECE, MCE and reliability bins; with a validation split, fit a temperature on it "
                         "(saved beside the checkpoint for predict and export) and show both")
    ev.add_argument("--confusions", action="store_true",
                    help="also every (true, predicted) pair it got wrong: the count and the test-set indices of "
                         "its images, most confident first (explain test:N draws one)")
    ev.add_argument("--json", action="store_true")
    data_options(ev)
    ev.set_defaults(run=cmd_eval)

    pr = sub.add_parser("predict", help="predict the class of image files with a checkpoint")
    pr.add_argument("checkpoint", type=Path)
    pr.add_argument("images", type=Path, nargs="+", metavar="IMAGE_OR_DIR",
                    help="image files, or folders (searched recursively)")
    pr.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per image (default: 3)")
    pr.add_argument("--tta", action="store_true", help="flip + translate test-time augmentation")
    pr.add_argument("--json", action="store_true", help="one JSON object per image, then a summary")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    pr.set_defaults(run=cmd_predict)

    ex = sub.add_parser("export", help="export a checkpoint as ONNX, a torch.export program or safetensors")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("--format", required=True, choices=("onnx", "safetensors", "pt2"))
    ex.add_argument("-o", "--output", type=Path, metavar="PATH",
                    help="where to write (default: next to the checkpoint, e.g. best.onnx)")
    ex.set_defaults(run=cmd_export)

    lf = sub.add_parser("lr-find", help="LR range test: the loss as the LR rises, and a suggested LR",
                        description="Train a throwaway copy of the configured model for --steps steps while every "
                                    "peak LR rises exponentially together; suggest the LR where the loss falls "
                                    "fastest (steepest descent). Nothing is written.")
    lf.add_argument("--preset", help="preset name or path to a .toml file")
    lf.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    lf.add_argument("--steps", type=int, default=100, help="steps of the sweep (default: 100)")
    lf.add_argument("--json", action="store_true", help="the whole curve and the suggestion as one JSON object")
    data_options(lf)
    lf.set_defaults(run=cmd_lr_find)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..training.checkpoints import CheckpointError
    from ..training.evaluate import evaluate_checkpoint

    data = checkpoint_data(args.checkpoint, args.data)
    if args.calibration and args.split != "test":
        raise UsageError("tui-trainer eval: --calibration measures the test split (a temperature is fitted on "
                         "validation): drop --split val")
    try:
        result = evaluate_checkpoint(args.checkpoint, data, args.device, tta=args.tta, split=args.split,
                                     calibration=args.calibration)
    except (CheckpointError, DataError) as e:
        print(shown(f"tui-trainer eval: {e}"), file=sys.stderr)
        return EXIT_FAILED
    except ValueError as e:
        raise UsageError(f"tui-trainer eval: {e}") from None
    pairs = result.confusions() if args.confusions else None
    if args.json:
        extra = {"confusions": [c.to_json(result.classes) for c in pairs]} if pairs is not None else {}
        print(json.dumps({**result.to_json(), **extra}))
        return 0
    images = "test images" if args.split == "test" else "validation images (held out of training)"
    print(f"{shown(args.checkpoint)}: accuracy {result.accuracy:.2%} on {result.n} {images}"
          f"{' (TTA)' if args.tta else ''}, loss {result.loss:.4f}")
    classes = [shown(c) for c in result.classes]
    width = max(len(c) for c in classes)
    for name, acc in zip(classes, result.per_class):
        print(f"  {name:<{width}}  {acc:6.1%}")
    print("confusion (rows: true, columns: predicted)")
    print("  " + " ".join(f"{c[:5]:>5}" for c in classes))
    for name, row in zip(classes, result.confusion):
        print(f"  {' '.join(f'{v:5d}' for v in row)}  {name}")
    if result.calibration is not None:
        print("\n".join(calibration_lines(result.calibration)))
    if pairs is not None:
        where = "test" if args.split == "test" else "validation"
        print(f"confused pairs, most first ({where} indices, most confident first):" if pairs else "no mistakes")
        for c in pairs:
            print(f"  {classes[c.true]} → {classes[c.predicted]}  {c.count}: {' '.join(map(str, c.indices))}")
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
    if result.temperature is not None:  # on stderr: the lines below stay one per image
        print(f"probabilities calibrated: logits / {result.temperature:.3f}, the temperature fitted on its run's "
              f"validation images", file=sys.stderr)
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


def calibration_lines(c) -> list[str]:  # noqa: ANN001 - a training.reliability.Calibration
    """The calibration before and, with a fitted temperature, after it, bin by bin side by side."""
    after = c.after
    lines = [f"calibration on {c.before.n:,} test images ({len(c.before.bins)} confidence bins in use):"]
    if after is None:
        lines.append(f"  ECE {c.before.ece:.2%}  MCE {c.before.mce:.2%}")
        lines.append(f"  {c.note}")
    else:
        lines.append(f"  {'':<14}{'before':>10}{f'after T = {c.temperature:.3f}':>18}")
        lines.append(f"  {'ECE':<14}{c.before.ece:>10.2%}{after.ece:>18.2%}")
        lines.append(f"  {'MCE':<14}{c.before.mce:>10.2%}{after.mce:>18.2%}")
        lines.append(f"  (T fitted on {c.fitted_on:,} validation images, saved beside the checkpoint: predict and "
                     f"export use it)")
    lines.append(f"  {'confidence':<12}{'images':>8}{'conf':>8}{'acc':>8}" + ("   | after:" if after else ""))
    edges = sorted({(b.low, b.high) for b in c.before.bins + (after.bins if after else [])})
    for edge in edges:
        lines.append(f"  {f'{edge[0]:.2f}-{edge[1]:.2f}':<12}{_bin_cells(c.before, edge)}"
                     + (f"   |{_bin_cells(after, edge)}" if after else ""))
    return lines


def _bin_cells(rel, edge: tuple[float, float]) -> str:  # noqa: ANN001 - a training.reliability.Reliability
    b = next((b for b in rel.bins if (b.low, b.high) == edge), None)
    return f"{b.count:>8}{b.confidence:>8.1%}{b.accuracy:>8.1%}" if b else f"{'-':>8}{'':>16}"
