"""A small filter language over run records, for the runs table's filter box and `runs --filter`.

A record is the listing's flat dict: summary keys (`best_acc`, `state`, `tags`, ...) and dotted
config keys (`optimizer.lr`, `model.widths`, ...). The syntax, also shown to users as FILTER_HELP:

- Terms separated by whitespace must all match; an empty expression matches every run.
- A bare word, or a "double-quoted phrase", matches as a case-insensitive substring of the name,
  preset, any tag, the note or the study. Quoting also turns `a:b` or `a>b` into plain text.
- `tag:NAME` has that tag, `preset:NAME` is that preset (both exact, any case). `state:NAME` is
  that state; a value naming no state exactly takes every state it starts, so `state:stop` means
  "stopped" or "stopped early" while `state:stopped` means "stopped" only (`state:stopped-early`
  or `state:"stopped early"` the other one).
- `KEY OP VALUE`, without spaces, OP one of `> >= < <= = !=`, KEY any record key. How it compares
  follows the run's value: numbers numerically (a value ending in % is divided by 100, so
  `best_acc>85%` is `best_acc>0.85`; `best_acc>85` is refused rather than matching nothing),
  text without case and, for `<` `>`, alphabetically (so `date>=2026-12` works), booleans with
  true/false/yes/no/on/off/1/0, lists element by element against a comma-separated value
  (`model.widths=32,64,64`; `[]` is the empty list) with `=` and `!=` only. A run lacking the key,
  holding None there, or holding a value of another kind never matches, not even `!=`.
  Summary keys that are always numbers (best_acc, epochs, ...) refuse a value that is not one.
- `!TERM` negates a term: `!tag:old`, `!"baseline"`. It negates the whole test, so `!best_acc>0.9`
  keeps runs without an accuracy too (`best_acc<=0.9` keeps only those that have one).
"""
from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from .summary import STATES as RUN_STATES

FILTER_HELP = """\
Terms separated by spaces must all match; each may be:
  word  "a phrase"   in the name, preset, tags, note or study (any case)
  tag:NAME           has that tag          preset:NAME   made from that preset
  state:NAME         live finished stopped "stopped early" pruned failed unreadable;
                     a prefix takes all it starts: state:stop is both stopped states
  KEY OP VALUE       OP one of > >= < <= = != with no spaces; KEY a column or setting:
                     best_acc>0.85 (or >85%)  epochs>=10  optimizer.lr<0.5
                     model.name=airbench  model.widths=32,64,64  run.tta=true  date>=2026-12
                     text ignores case; a run without the key never matches, not even !=
  !TERM              not TERM: !tag:old  !state:failed
Quote text holding a space, colon or operator to search for it: "lr=0.1 sweep" "todo:"."""

# As the listing writes them: a summary's states, and "unreadable" for folders it cannot read.
STATES = (*RUN_STATES, "unreadable")
TEXT_KEYS = ("name", "preset", "note", "study")  # searched by bare words, with the tags
NUMERIC_KEYS = frozenset({"best_acc", "final_acc", "epochs", "epochs_total", "best_epoch", "train_seconds",
                          "images_per_s", "parameters", "trial", "validation", "val_acc", "best_val_acc",
                          "best_val_epoch"})
ACCURACY_KEYS = frozenset({"best_acc", "final_acc", "val_acc", "best_val_acc"})
FIELDS = ("tag", "state", "preset")

_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*"|"[^"]*$)+')  # the last branch catches an unclosed quote
_COMPARISON = re.compile(r"([A-Za-z_][\w.]*)(>=|<=|!=|>|<|=)")
_FIELD = re.compile(r"([A-Za-z_]\w*):")
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}( \d{2}(:\d{2})?)?)?)?")  # a prefix of the listing's dates
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}


class FilterError(ValueError):
    """A term that cannot be parsed; the message is one line naming it and what is allowed."""


_Test = Callable[[dict[str, Any]], bool]


class _Term(NamedTuple):
    test: _Test
    negate: bool


@dataclass(frozen=True)
class Filter:
    text: str
    terms: tuple[_Term, ...] = ()

    def matches(self, record: dict[str, Any]) -> bool:
        return all(term.test(record) != term.negate for term in self.terms)


def parse(text: str, known_keys: set[str] | None = None) -> Filter:
    """Parse a filter expression; with `known_keys`, comparing on any other key is an error."""
    return Filter(text, tuple(_term(source, known_keys) for source in _TOKEN.findall(text)))


def _term(source: str, known_keys: set[str] | None) -> _Term:
    if source.count('"') % 2:
        raise FilterError(f"unclosed quote in {source!r}")
    word = source.replace('"', "")
    # Only what precedes the first quote can be syntax: "a>b" is text to search for.
    plain = source.find('"') if '"' in source else len(source)
    negate = plain > 0 and word.startswith("!")
    if negate:
        word, plain = word[1:], plain - 1
        if not word and '"' not in source:
            raise FilterError(f"{source!r}: expected a term after !")
        if plain > 0 and word.startswith("!"):
            raise FilterError(f"{source!r}: one ! negates a term; !! is not allowed")
    head = word[:plain]
    if m := _COMPARISON.match(head):
        key, op = m.groups()
        value = word[m.end():]
        if known_keys is not None and key not in known_keys:
            raise FilterError(f"unknown key {key!r} in {source!r}{_suggest(key, known_keys)}")
        return _Term(_comparison(source, key, op, value, quoted='"' in source), negate)
    if m := re.match(r"(>=|<=|!=|>|<|=)", head):
        raise FilterError(f"{source!r}: expected a key before {m.group(1)}")
    if m := _FIELD.match(head):
        return _Term(_field(source, m.group(1).lower(), word[m.end():]), negate)
    return _Term(_contains(word.casefold()), negate)


def _suggest(key: str, known_keys: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known_keys), n=1)
    return f" (did you mean {close[0]}?)" if close else " (keys look like best_acc or optimizer.lr)"


def _contains(needle: str) -> _Test:
    def test(record: dict[str, Any]) -> bool:
        texts = [record.get(key) for key in TEXT_KEYS] + list(record.get("tags") or ())
        return any(isinstance(t, str) and needle in t.casefold() for t in texts)
    return test


def _field(source: str, name: str, value: str) -> _Test:
    if name not in FIELDS:
        raise FilterError(f"unknown filter '{name}:' in {source!r} (allowed: tag:, state:, preset:; "
                          f"quote text that has a colon)")
    if not value:
        raise FilterError(f"{source!r}: expected a {name} after {name}:")
    wanted = value.casefold()
    if name == "tag":
        return lambda r: any(isinstance(t, str) and t.casefold() == wanted for t in r.get("tags") or ())
    if name == "preset":
        return lambda r: isinstance(r.get("preset"), str) and r["preset"].casefold() == wanted
    wanted = re.sub(r"[-_]", " ", wanted)
    states = {wanted} if wanted in STATES else {s for s in STATES if s.startswith(wanted)}
    if not states:
        raise FilterError(f"unknown state {value!r} in {source!r} (states: {', '.join(STATES)})")
    return lambda r: r.get("state") in states


class _Wanted(NamedTuple):
    """The value of a comparison in each form a run's value may need it."""
    text: str
    number: float | None
    flag: bool | None
    items: tuple[float | str, ...]


def _comparison(source: str, key: str, op: str, value: str, quoted: bool) -> _Test:
    number = _number(value)
    if number is None and _is_float(value):
        raise FilterError(f"{source!r}: {value.strip()} is not a number a run can have: compare with a finite one")
    if key == "date" and not quoted and not _DATE.fullmatch(value):
        raise FilterError(f"{source!r}: dates look like 2026, 2026-12, 2026-12-06 or \"2026-12-06 14:30\"")
    if key in NUMERIC_KEYS:
        if number is None:
            raise FilterError(f"{source!r}: expected a number after {op}")
        if key in ACCURACY_KEYS and number > 1 and not value.endswith("%"):
            raise FilterError(f"{source!r}: accuracies are fractions: write {number / 100:g} or {value}%")
    elif not value and not quoted:
        raise FilterError(f'{source!r}: expected a value after {op} (write "" for empty text)')
    parts = [p.strip() for p in value.strip().strip("[]").split(",")]
    items = tuple(n if (n := _number(p)) is not None else p.casefold() for p in parts if p)
    wanted = _Wanted(value.casefold(), number, _BOOLS.get(value.strip().lower()), items)
    compare = _OPS[op]
    ordering = op not in ("=", "!=")

    def test(record: dict[str, Any]) -> bool:
        pair = _operands(record.get(key), wanted, ordering)
        return pair is not None and compare(*pair)
    return test


def _operands(have: Any, wanted: _Wanted, ordering: bool) -> tuple[Any, Any] | None:
    """The run's value and the wanted one as two comparable things, or None when they are not."""
    if isinstance(have, bool):
        return None if wanted.flag is None else (have, wanted.flag)
    if isinstance(have, (int, float)):
        return None if wanted.number is None else (float(have), wanted.number)
    if isinstance(have, str):
        return have.casefold(), wanted.text
    if isinstance(have, (list, tuple)) and not ordering:
        return tuple(_item(v) for v in have), wanted.items
    return None


def _item(value: Any) -> float | str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return str(value).casefold()


def _is_float(text: str) -> bool:
    try:
        float(text.strip().removesuffix("%"))
    except ValueError:
        return False
    return True


def _number(text: str) -> float | None:
    text = text.strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return number / 100 if percent else number


def _equal(a: Any, b: Any) -> bool:
    # 0.1 * 3 and 0.3, or 85% and 0.85, should be the same number to a user.
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "=": _equal, "!=": lambda a, b: not _equal(a, b)}
