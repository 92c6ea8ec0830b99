"""Text from files, made safe to show: the one helper every terminal, table and dialog uses.

Run folder names, notes, tags, preset descriptions, class names and image file names are written
by users or by other programs. Shown raw, an ESC starts a terminal escape sequence (a retitled
window, a cleared screen, a fake prompt) and a right-to-left override reorders what follows, so
`shown` draws every such character visibly: C0 controls and DEL in caret notation (ESC as `^[`,
BEL as `^G`), C1 controls and Unicode's invisible format characters as `\\u` escapes.
"""
from __future__ import annotations

import unicodedata


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\u{code:04x}"


def _unsafe(char: str) -> bool:
    # Cc: C0, DEL and C1 controls; Cf: format characters (bidi overrides, zero-width joiners);
    # Zl/Zp: line and paragraph separators, which some terminals treat as newlines.
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def shown(text: object, newlines: bool = False) -> str:
    """`text` with every control or invisible format character drawn visibly; `newlines` keeps
    line breaks (and tabs) for multi-line places such as a note's editor."""
    text = str(text)
    if text.isprintable() and text.isascii():
        return text  # the common case, at no cost to a listing of a thousand runs
    keep = "\n\t" if newlines else ""
    return "".join(_visible(c) if _unsafe(c) and c not in keep else c for c in text)


def human_size(n: int) -> str:
    """Bytes as a person reads them: 812 B, 4.5 KB, 130 MB."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 100 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def clip(text: str, width: int) -> str:
    """`text` cut to at most `width` characters at a word's end, with … where it was cut."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    if text[width - 1] != " " and space > width // 2:  # the cut fell inside a word: drop its start
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
