"""The report page: the run's best checkpoint evaluated on the data it trained on (with its
calibration, which fits and saves a temperature when the run has a validation split), then one
HTML file with every figure inside it.

Text from files (the run's name, note, tags, class names, settings) goes through text.shown (control
characters made visible) and html.escape: a name cannot inject markup or script into the page.
"""
from __future__ import annotations

import html
import platform
import sys
from pathlib import Path
from typing import Any, Callable

from .. import __version__, locations
from ..atomic import atomic_write
from ..text import shown
from ..training.class_report import class_scores, macro_f1, most_confused
from ..training.evaluate import EvalResult, evaluate_checkpoint
from ..workspace import folder
from ..workspace.columns import format_value
from ..workspace.listing import read_row
from . import figures

REPORT = "report.html"  # in the run folder, unless -o says otherwise
WORST = 12
PAIRS, PAIR_EXAMPLES = 6, 6
# Every section, in order; a browser check looks for each id.
SECTIONS = ("summary", "curves", "confusion", "classes", "confused", "mistakes", "calibration", "settings",
            "environment")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: .15em .8em; text-align: left; }
td.n, th.n { text-align: right; } tr:nth-child(even) { background: #f5f5f5; }
img.pixels { image-rendering: pixelated; width: 96px; height: 96px; }
figure.thumb { display: inline-block; margin: .3em; text-align: center; font-size: .8em; }
.dim { color: #777; } .bad { color: #b00; }
"""


class ReportError(Exception):
    """A run that cannot be reported; one line."""


def esc(value: Any) -> str:
    return html.escape(shown(str(value)))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def write_report(run_dir: Path, out: Path | None = None, *, data: str | None = None, device: str = "auto",
                 get_dataset: Callable[[str, Any], Any] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Evaluate `run_dir`'s best checkpoint (else its last) and write the page to `out` (default
    RUN/report.html). `get_dataset(source, settings)`: the app's cached loader. Raises ReportError,
    CheckpointError or DataError with one line."""
    from ..data import load_dataset

    run_dir = Path(run_dir)
    if not folder.is_run_folder(run_dir):
        raise ReportError(f"{run_dir} is not a run folder (no summary.json, events.jsonl or metrics.csv)")
    checkpoint = next((p for p in (run_dir / "checkpoints" / n for n in ("best.pt", "last.pt")) if p.is_file()), None)
    if checkpoint is None:
        raise ReportError(f"{run_dir} has no checkpoint to evaluate yet (checkpoints/best.pt or last.pt)")
    recorded = folder.run_data(run_dir)
    source = data or recorded.source or locations.default_data()
    dataset = (get_dataset or load_dataset)(source, recorded.settings)
    result = evaluate_checkpoint(checkpoint, source, device, worst=WORST, dataset=dataset, calibration=True,
                                 progress=progress)
    page = render(run_dir, checkpoint, result, dataset)
    out = Path(out) if out is not None else run_dir / REPORT
    atomic_write(out, lambda f: f.write(page.encode("utf-8")))
    return out


def render(run_dir: Path, checkpoint: Path, result: EvalResult, dataset) -> str:  # noqa: ANN001 - a Dataset
    row = read_row(run_dir)
    sections = {
        "summary": ("Summary", _summary(row, checkpoint, result)),
        "curves": ("Curves", _curves(folder.read_metrics(run_dir))),
        "confusion": ("Confusion matrix", (f'<img alt="confusion matrix" src="'
                                           f'{figures.confusion([shown(c) for c in result.classes], result.confusion)}">')),
        "classes": ("Per class", _classes(result)),
        "confused": ("Most confused pairs", _confused(result, dataset)),
        "mistakes": ("Worst mistakes", _mistakes(result, dataset)),
        "calibration": ("Calibration", _calibration(result)),
        "settings": ("Settings", _settings(row)),
        "environment": ("Environment", _environment(row)),
    }
    body = "\n".join(f'<section id="{key}"><h2>{title}</h2>\n{content}\n</section>'
                     for key, (title, content) in sections.items())
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(row.name)}: tui-trainer report</title><style>{STYLE}</style></head>\n"
            f"<body><h1>{esc(row.name)}</h1>\n{body}\n</body></html>\n")


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Cells are HTML already (escaped by the caller); columns in `numeric` align right."""
    align = [' class="n"' if i in numeric else "" for i in range(len(head))]
    top = "".join(f"<th{a}>{h}</th>" for a, h in zip(align, head))
    body = "".join("<tr>" + "".join(f"<td{a}>{c}</td>" for a, c in zip(align, r)) + "</tr>" for r in rows)
    return f"<table><tr>{top}</tr>{body}</table>"


def _summary(row, checkpoint: Path, result: EvalResult) -> str:  # noqa: ANN001 - a RunRow
    s = row.summary
    chosen = (f"chosen on {s.validation:,} held-out training images (validation {pct(s.best_val_acc)})"
              if s.best_val_acc is not None else "chosen on the test set (no validation split)")
    facts = [
        ("state", esc(row.state)), ("preset", esc(s.preset)),
        ("epochs", f"{s.epochs_done}" + (f" of {s.epochs_total}" if s.epochs_total else "")),
        ("best test accuracy", (f"{pct(s.best_acc)} at epoch {s.best_epoch} ({chosen})"
                                if s.best_acc is not None else "-")),
        ("final test accuracy", pct(s.final_acc) + (" (TTA)" if s.final_tta else "")),
        ("evaluated here", (f"{esc(checkpoint.name)}: {pct(result.accuracy)} on {result.n:,} test images, "
                            f"loss {result.loss:.4f}")),
        ("tags", esc(", ".join(row.tags)) or '<span class="dim">none</span>'),
        ("note", esc(row.note) or '<span class="dim">none</span>'),
    ]
    return _table(["", ""], [[k, v] for k, v in facts])


def _curves(rows) -> str:  # noqa: ANN001 - EpochEnded rows
    if not rows:
        return '<p class="dim">no epoch finished yet</p>'
    epochs = [m.epoch for m in rows]
    series = {"accuracy %": {split: [None if getattr(m, key) is None else getattr(m, key) * 100 for m in rows]
                             for split, key in (("train", "train_acc"), ("test", "test_acc"), ("validation", "val_acc"))},
              "loss": {"train": [m.train_loss for m in rows], "test": [m.test_loss for m in rows],
                       "validation": [m.val_loss for m in rows]}}
    return f'<img alt="accuracy and loss by epoch" src="{figures.curves(epochs, series)}">'


def _classes(result: EvalResult) -> str:
    scores = class_scores(result.confusion, result.classes)
    rows = [[esc(s.name), pct(s.recall), pct(s.precision), pct(s.f1), str(s.support)] for s in scores]
    return (_table(["class", "accuracy (recall)", "precision", "F1", "images"], rows, {1, 2, 3, 4})
            + f"<p>macro F1 {pct(macro_f1(scores))}</p>")


def _thumb(dataset, index: int, caption: str) -> str:  # noqa: ANN001 - a Dataset
    uri = figures.image_uri(dataset.test_x[index].cpu().numpy())
    return f'<figure class="thumb"><img class="pixels" alt="test image {index}" src="{uri}"><figcaption>{caption}</figcaption></figure>'


def _confused(result: EvalResult, dataset) -> str:  # noqa: ANN001
    pairs = most_confused(result.confusion, result.classes, top=PAIRS)
    if not pairs:
        return '<p class="dim">no mistakes</p>'
    predicted = result.logits.argmax(-1)
    parts = []
    for pair in pairs:
        t, p = result.classes.index(pair.true), result.classes.index(pair.predicted)
        examples = ((dataset.test_y == t) & (predicted == p)).nonzero().flatten()[:PAIR_EXAMPLES].tolist()
        thumbs = "".join(_thumb(dataset, i, f"#{i}") for i in examples)
        parts.append(f"<h3>{esc(pair.true)} taken for {esc(pair.predicted)}: {pair.count}</h3><div>{thumbs}</div>")
    return "\n".join(parts)


def _mistakes(result: EvalResult, dataset) -> str:  # noqa: ANN001
    if not result.worst:
        return '<p class="dim">no mistakes</p>'
    thumbs = "".join(_thumb(dataset, m.index, f"{esc(result.classes[m.true])}<br>"
                                               f'<span class="bad">as {esc(result.classes[m.predicted])} '
                                               f"{m.confidence:.0%}</span>") for m in result.worst)
    return (f"<p>The test images the model got wrong most confidently (true class, then its answer and "
            f"probability).</p><div>{thumbs}</div>")


def _calibration(result: EvalResult) -> str:
    c = result.calibration
    panels = [("before", c.before.bins)]
    rows = [["expected calibration error (ECE)", pct(c.before.ece)], ["maximum calibration error (MCE)", pct(c.before.mce)]]
    head = ["", "before"]
    if c.after is not None:
        panels.append((f"after: logits / {c.temperature:.3f}", c.after.bins))
        head.append(f"after temperature scaling (T = {c.temperature:.3f})")
        rows[0].append(pct(c.after.ece))
        rows[1].append(pct(c.after.mce))
        note = (f"<p>T was fitted on {c.fitted_on:,} validation images (held out of training), never the test "
                f"split, which measures both columns. predict and exported models use it.</p>")
    else:
        note = f'<p class="dim">{esc(c.note)}</p>'
    image = f'<img alt="reliability diagrams" src="{figures.reliability(panels)}">'
    return _table(head, rows, {1, 2}) + note + image


def _settings(row) -> str:  # noqa: ANN001 - a RunRow
    return _table(["setting", "value"], [[esc(k), esc(format_value(v))] for k, v in sorted(row.config.items())])


def _environment(row) -> str:  # noqa: ANN001 - a RunRow
    import torch

    s = row.summary
    facts = [("trained on", esc(s.device or "-")), ("precision", esc(s.precision or "-")),
             ("parameters", f"{s.parameters:,}" if s.parameters else "-"), ("data", esc(s.data or "-")),
             ("training time", f"{s.train_seconds:.0f} s" if s.train_seconds else "-"),
             ("speed", f"{s.images_per_s:,.0f} images/s" if s.images_per_s else "-"),
             ("report made with", esc(f"tui-trainer {__version__}, torch {torch.__version__}, Python "
                                      f"{sys.version.split()[0]}, {platform.platform()}"))]
    return _table(["", ""], [[k, v] for k, v in facts])
