"""notes.json: a run's note and tags, the user's words about it.

Kept apart from summary.json because the trainer rewrites that file every epoch: a tag added from
a shell while the run trains must not be overwritten by the trainer's next write.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write

NOTES = "notes.json"


class NotesError(ValueError):
    """A tag or note that cannot be stored; the message says what is allowed."""


@dataclass
class Notes:
    note: str = ""
    tags: list[str] = field(default_factory=list)


def read_notes(run_dir: Path) -> Notes:
    """The run's note and tags; an unreadable file reads as none (listing must not fail on it)."""
    try:
        raw = json.loads((Path(run_dir) / NOTES).read_text(encoding="utf-8"))
        note, tags = raw.get("note", ""), raw.get("tags", [])
        if not isinstance(note, str) or not isinstance(tags, list):
            raise TypeError
        return Notes(note, [str(t) for t in tags])
    except (OSError, ValueError, TypeError, AttributeError):
        return Notes()


def write_notes(run_dir: Path, notes: Notes) -> None:
    data = json.dumps({"note": notes.note, "tags": notes.tags}, indent=1).encode()
    atomic_write(Path(run_dir) / NOTES, lambda f: f.write(data))


TAG_PUNCTUATION = "-_.:"


def check_tag(tag: str) -> str:
    """A tag as the filter language can name it (`tag:NAME`): letters, digits and - _ . : only, not
    starting with - (an option to a shell) or a character a spreadsheet or terminal would act on."""
    tag = tag.strip()
    if not tag or not all(c.isalnum() or c in TAG_PUNCTUATION for c in tag) or tag.startswith("-"):
        raise NotesError(f"tag {tag!r} is invalid: use letters, digits and - _ . : (no spaces, commas or "
                         f"other signs, and no leading -)")
    return tag


def set_note(run_dir: Path, text: str) -> Notes:
    notes = read_notes(run_dir)
    notes.note = text.strip()
    write_notes(run_dir, notes)
    return notes


def edit_tags(run_dir: Path, add: list[str] = (), remove: list[str] = ()) -> Notes:
    """Add and remove tags (in that order); tags keep the order they were first added in."""
    notes = read_notes(run_dir)
    for tag in map(check_tag, add):
        if tag not in notes.tags:
            notes.tags.append(tag)
    gone = {t.strip() for t in remove}  # any tag can go, even one an older version let in
    notes.tags = [t for t in notes.tags if t not in gone]
    write_notes(run_dir, notes)
    return notes
