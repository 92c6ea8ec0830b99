"""Exporting run records and their per-epoch metrics as CSV or JSON, for pandas and spreadsheets.

CSV cells are written plainly so `pandas.read_csv` types them by itself: None is an empty cell,
numbers are full precision (accuracies as fractions, not percentages), booleans True/False (as
metrics.csv has them), tags joined with ";", and config lists as JSON text ("[32, 64, 64]", which
`json.loads` reads back) since a comma-joined list would be ambiguous inside a CSV file.
Text cells (names, notes, tags, string settings) that a spreadsheet would run as a formula, those
starting with = + - @ tab or CR, get a leading ' as OWASP advises; numbers the tool writes itself
never do, so pandas still reads them as numbers. Files are text files the caller opened with newline="".
"""
from __future__ import annotations

import csv
import json
import math
from typing import Any, Iterable, TextIO

from .columns import SUMMARY_COLUMNS, config_keys

Record = dict[str, Any]
# No table column shows it, but a reader of the file needs to know why a run is partial.
EXTRA_SUMMARY_KEYS = ("problem",)
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "val_loss", "val_acc", "lr",
                  "seconds", "images_per_s", "is_best")


def summary_keys(records: list[Record]) -> list[str]:
    """The summary keys a CSV export writes: each column's raw keys, then any others the records
    carry (such as run_dir), so that nothing in a record is lost."""
    keys = dict.fromkeys(k for c in SUMMARY_COLUMNS for k in c.raw)
    keys.update(dict.fromkeys(EXTRA_SUMMARY_KEYS))
    for record in records:
        keys.update(dict.fromkeys(k for k in record if "." not in k))
    return list(keys)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """A text cell no spreadsheet runs as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "tags":
        return text_cell(";".join(value))
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if isinstance(value, str):
        return text_cell(value)
    return str(value)


def to_csv(records: list[Record], file: TextIO) -> None:
    """One row per run: the summary keys, then every config key (dotted) any run has."""
    keys = summary_keys(records) + config_keys(records)
    writer = csv.writer(file)
    writer.writerow(keys)
    for record in records:
        writer.writerow([_cell(k, record.get(k)) for k in keys])


def rows_csv(rows: list[dict[str, Any]], file: TextIO) -> None:
    """Any list of flat objects (a grouped listing's groups): their keys in first-seen order."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.writer(file)
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_cell(k, row.get(k)) for k in keys])


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)  # a Path in run_dir, mostly


def to_json_rows(records: list[Record]) -> list[dict[str, Any]]:
    """The records, keys as given, with values `json.dumps` can write as standard JSON."""
    return [_jsonable(record) for record in records]


def metrics_csv(rows: Iterable[tuple[str, dict[str, Any]]], file: TextIO) -> None:
    """Long format: one row per (run, epoch) from (run name, epoch dict) pairs."""
    writer = csv.writer(file)
    writer.writerow(("run", *METRIC_COLUMNS))
    for run, epoch in rows:
        writer.writerow([text_cell(run), *(_cell(k, epoch.get(k)) for k in METRIC_COLUMNS)])
