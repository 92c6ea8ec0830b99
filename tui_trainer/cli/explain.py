"""`tui-trainer explain CHECKPOINT IMAGE... -o DIR`: where the model looked (training/explain.py),
one PNG an image: the image, the Grad-CAM map of the predicted class and of the true one. An
IMAGE is a file, or test:N, the N-th image of the checkpoint's test split (its class known), as
`eval --confusions` lists them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..text import shown
from ..workspace import folder
from .common import EXIT_FAILED, UsageError, checkpoint_data

TEST_PREFIX = "test:"
BATCH = 16  # images explained at a time


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    ex = sub.add_parser("explain", help="Grad-CAM maps of images: where the model looked, as PNG files")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("images", nargs="+", metavar="IMAGE",
                    help="image files, or test:N for the N-th test image of the checkpoint's data")
    ex.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder to write the PNGs into")
    ex.add_argument("--data", default=None, help="the data test:N reads (default: the data its run recorded)")
    ex.set_defaults(run=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..training.checkpoints import CheckpointError
    from ..training.explain import Explainer, NoLayer, write_png
    from ..training.predict import read_image

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"tui-trainer explain: -o {args.output} is a file; give a folder")
    try:
        explainer = Explainer(args.checkpoint)
    except (CheckpointError, NoLayer) as e:
        print(shown(f"tui-trainer explain: {e}"), file=sys.stderr)
        return EXIT_FAILED
    items: list[tuple[str, object, int | None]] = []  # (name, pixels, true class)
    failed = 0
    test = None
    for image in args.images:
        try:
            if image.startswith(TEST_PREFIX):
                test = test or _test_split(args, explainer)
                index = _index(image, len(test[1]))
                items.append((f"test-{index}", test[0][index].numpy(), int(test[1][index])))
            else:
                items.append((Path(image).stem, read_image(Path(image), explainer.size), None))
        except (ValueError, DataError) as e:  # one line an image; the rest go on
            print(shown(f"tui-trainer explain: {image}: {e}"), file=sys.stderr)
            failed += 1
    if not items:
        return EXIT_FAILED
    args.output.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        for (name, _, _), e in zip(chunk, explainer.explain([p for _, p, _ in chunk], [t for _, _, t in chunk])):
            path = args.output / f"{folder.safe_name(name)}.png"
            if path in written:  # two images of one name (a/cat.png, b/cat.png): both kept
                path = path.with_stem(f"{path.stem}-{len(written)}")
            written.add(path)
            write_png(e, explainer.classes, explainer.layer_text, path, f"{args.checkpoint}: {name}")
            c, p = e.top[0]
            true = f", true {explainer.classes[e.true]}" if e.true is not None else ""
            print(shown(f"{path}: predicted {explainer.classes[c]} {p:.1%}{true}"))
    print(shown(f"Grad-CAM at {explainer.layer_text} of {args.checkpoint}; {len(items)} written to {args.output}"))
    return EXIT_FAILED if failed else 0


def _test_split(args: argparse.Namespace, explainer):  # noqa: ANN001, ANN202 - (images, labels) tensors
    from ..config import data_settings
    from ..data import DataError, load_dataset
    from ..training import checkpoints

    data = checkpoint_data(args.checkpoint, args.data)
    settings = data_settings((checkpoints.load(args.checkpoint).get("config") or {}).get("data"))
    dataset = load_dataset(data, settings)
    if list(dataset.classes) != explainer.classes:
        raise DataError(f"{data} has classes {dataset.classes}, the checkpoint {explainer.classes}")
    return dataset.test_x, dataset.test_y


def _index(image: str, n: int) -> int:
    text = image[len(TEST_PREFIX):]
    if not n:
        raise ValueError("the test split holds no images")
    if not text.isdigit() or int(text) >= n:
        raise ValueError(f"expected test:N with N from 0 to {n - 1}")
    return int(text)
