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


def check_tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or any(c.isspace() or c in ",;" for c in tag) or tag.startswith(("-", "!")):
        raise NotesError(f"tag {tag!r} is invalid: use letters, digits and - _ . : (no spaces, commas or "
                         f"leading - or !)")
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
    gone = {check_tag(t) for t in remove}
    notes.tags = [t for t in notes.tags if t not in gone]
    write_notes(run_dir, notes)
    return notes
