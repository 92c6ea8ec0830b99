"""Crash-safe file replacement."""
from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from .text import human_size

FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(OSError):
    """No room for a file: the message names the folder, what the write needed and what is free."""

    def __init__(self, path: Path, needed: int) -> None:
        folder = Path(path).parent
        try:
            free = f"{human_size(shutil.disk_usage(folder).free)} free"
        except OSError:
            free = "free space unknown"
        super().__init__(errno.ENOSPC, f"no space left in {folder} for {Path(path).name}: it needs "
                                       f"{human_size(needed)}, {free}; free some space or use another folder")


class _Counted:
    """The file a write function gets: counts the bytes asked for, so a full disk can say how many."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.asked = f, 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.asked += len(data)
        return self.f.write(data)

    def __getattr__(self, name: str) -> object:  # flush, tell, ...: the file's own
        return getattr(self.f, name)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn one; a failed
    write leaves the old one and raises (DiskFull, an OSError, when the disk is full).
    """
    path = Path(path)
    # The thread too: two app workers saving the same file at once must not share a temp file.
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    counted = None
    try:
        with open(tmp, "wb") as f:
            counted = _Counted(f)
            write(counted)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in FULL:
            raise DiskFull(path, counted.asked if counted else 0) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
