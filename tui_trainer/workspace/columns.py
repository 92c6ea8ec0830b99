"""The runs table's columns and the comparison of runs: display text, sorting, settings diffs.

Records are the listing's flat dicts: summary keys without a dot, config settings with one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..text import shown as visible

Record = dict[str, Any]
NOTE_WIDTH = 40
PAIR_METRICS = ("best_acc", "final_acc", "epochs", "train_seconds")  # diff_pair always shows these


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    display: Callable[[Record], str]
    sort_key: Callable[[Record], Any]  # None for a run without a value: it sorts last
    raw: tuple[str, ...]  # the record keys it shows, which a CSV export writes as they are


def _sortable(value: Any) -> Any:
    """A key that orders numbers, then text, then lists, so a config column of mixed kinds sorts."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (int, float)):
        return 0, float(value)
    if isinstance(value, (list, tuple)):
        return 2, tuple(_sortable(v) for v in value)
    return 1, str(value).casefold()


def _column(key: str, header: str, show: Callable[[Any], str] | None = None,
            display: Callable[[Record], str] | None = None, sort_by: Callable[[Record], Any] | None = None,
            raw: tuple[str, ...] = ()) -> Column:
    def shown(record: Record) -> str:
        value = record.get(key)
        return "-" if value is None else (show or visible)(value)
    sort_by = sort_by or (lambda r: r.get(key))
    return Column(key, header, display or shown, lambda r: _sortable(sort_by(r)), (key, *raw))


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def clock(seconds: float) -> str:
    """2:31 under an hour, 1:02:03 from one."""
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}k" if n >= 1e3 else str(int(n))


def _epochs(record: Record) -> str:
    done, total = record.get("epochs"), record.get("epochs_total")
    if done is None:
        return "-"
    return str(done) if total is None else f"{done}/{total}"


def _final(record: Record) -> str:
    value = record.get("final_acc")
    if value is None:
        return "-"
    return percent(value) + (" T" if record.get("final_tta") else "")  # T: with test-time augmentation


def _tags(record: Record) -> str:
    return visible(", ".join(record.get("tags") or ()))


def _note(record: Record) -> str:
    lines = (record.get("note") or "").strip().splitlines()
    first = lines[0] if lines else ""
    first = visible(first)
    return first if len(first) <= NOTE_WIDTH else first[:NOTE_WIDTH - 1] + "…"


SUMMARY_COLUMNS: list[Column] = [
    _column("name", "Run"),
    _column("preset", "Preset"),
    _column("date", "Started"),
    _column("state", "State"),
    _column("epochs", "Epochs", display=_epochs, raw=("epochs_total",)),
    _column("best_acc", "Best", percent, raw=("best_epoch",)),
    # The accuracy that chose the best epoch, on the held-out images; "-" where the test set chose.
    _column("best_val_acc", "Val", percent, raw=("best_val_epoch", "val_acc", "validation")),
    _column("final_acc", "Final", display=_final, raw=("final_tta",)),
    _column("train_seconds", "Time", clock),
    _column("images_per_s", "img/s", lambda v: f"{v:,.0f}"),
    _column("device", "Device"),
    _column("parameters", "Params", count),
    _column("data", "Data"),
    _column("study", "Study"),
    _column("trial", "Trial"),
    _column("tags", "Tags", display=_tags, sort_by=_tags),
    _column("note", "Note", display=_note),
]
COLUMNS = {c.key: c for c in SUMMARY_COLUMNS}


def sort_records(records: list[Record], key: str, descending: bool = False) -> list[Record]:
    """Sorted by a summary column or a config key; runs without a value come last either way."""
    column = COLUMNS.get(key)
    sort_key = column.sort_key if column else (lambda r: _sortable(r.get(key)))
    keyed = [(sort_key(r), r) for r in records]
    present = sorted((p for p in keyed if p[0] is not None), key=lambda p: p[0], reverse=descending)
    return [r for _, r in present] + [r for k, r in keyed if k is None]


def config_keys(records: list[Record]) -> list[str]:
    """Every dotted key, grouped by section in the order sections and keys were first seen."""
    sections: dict[str, dict[str, None]] = {}
    for record in records:
        for key in record:
            if "." in key:
                sections.setdefault(key.partition(".")[0], {})[key] = None
    return [key for keys in sections.values() for key in keys]


_MISSING = object()


def diff_keys(records: list[Record]) -> list[str]:
    """The config keys whose values are not the same in all `records` (absent in some counts)."""
    if not records:
        return []
    first, rest = records[0], records[1:]
    return [key for key in config_keys(records)
            if any(r.get(key, _MISSING) != first.get(key, _MISSING) for r in rest)]


def format_value(value: Any, short: bool = False) -> str:
    """A config value as short text: 0.00133, 1, 2e-05, 32,64,64, true, [] (empty list), - (None).
    `short`: floats to 4 significant digits, for a table of sampled values (0.2502518083848236)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.4g}" if short else repr(value)  # repr: the shortest text that reads back the same
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v, short) for v in value) if value else "[]"
    return visible(value)


def diff_pair(a: Record, b: Record) -> list[tuple[str, str, str]]:
    """(key, in a, in b) for each setting that differs, then the results next to them."""
    rows = [(key, format_value(a.get(key)), format_value(b.get(key))) for key in diff_keys([a, b])]
    return rows + [(key, COLUMNS[key].display(a), COLUMNS[key].display(b)) for key in PAIR_METRICS]
