"""Where a study lives: its folder next to the runs, and the Optuna storage that holds its trials.

The default storage is a journal file in the study's folder: Optuna's JournalFileBackend appends
under a file lock, which is right for several worker processes on one machine (SQLite is not:
parallel writers hit "database is locked", optuna#4002), and it also works on a filesystem that
several machines share. A PostgreSQL or MySQL URL lets workers on any number of machines share it.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..text import clip

JOURNAL = "journal.log"
DB_SCHEMES = ("sqlite", "postgresql", "mysql")
DRIVERS = {"postgresql": "psycopg (pip install 'tui-trainer[postgres]')",
           "mysql": "pymysql and give the URL as mysql+pymysql://..."}


class StorageError(Exception):
    """A storage that cannot be opened; the message is one line for the user."""


def study_folder(runs: Path, name: str) -> Path:
    """The study's own files: logs, the live marker, the stop flag and (by default) its journal."""
    return Path(runs) / "studies" / name


def describe(url: str | None, folder: Path) -> str:
    """Where the trials are, for messages and logs (a URL's password hidden)."""
    return _hidden(url) if url else str(folder / JOURNAL)


def open_storage(url: str | None, folder: Path):  # noqa: ANN201 - an optuna BaseStorage
    """The storage at `url` (a database URL or a journal file path), or the study folder's journal."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens
    logging.getLogger("sqlalchemy").setLevel(logging.ERROR)
    scheme = url.split("://", 1)[0].split("+", 1)[0] if url and "://" in url else None
    if url is not None and scheme is None:
        path = Path(url).expanduser()
    elif url is None:
        path = folder / JOURNAL
    else:
        if scheme not in DB_SCHEMES:
            raise StorageError(f"--storage {url}: unknown kind {scheme!r} (use postgresql://, mysql://, sqlite:/// "
                               f"or the path of a journal file)")
        # A server that does not answer is one line after 10 s, not a hang for the TCP timeout.
        connect = {"connect_args": {"connect_timeout": 10}} if scheme == "postgresql" else {}
        try:
            return _retried(lambda: RDBStorage(url, engine_kwargs={"pool_pre_ping": True, **connect}))
        except ModuleNotFoundError as e:
            raise StorageError(f"--storage {_hidden(url)}: the {e.name} driver is not installed; "
                               f"install {DRIVERS.get(scheme, e.name)}") from None
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's errors are many; the user needs one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StorageError(f"--storage {_hidden(url)}: cannot open it: {clip(first, 200)}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as e:
        raise StorageError(f"journal {path}: {e.strerror or e}") from None


def _retried(open_it, tries: int = 4):  # noqa: ANN001, ANN202
    """Two processes opening a new database at once both create its tables, and one loses with a
    unique-key error; the tables are there when it tries again."""
    import time

    for attempt in range(tries):
        try:
            return open_it()
        except Exception as e:  # noqa: BLE001 - only that race is tried again; the caller judges the rest
            lost_race = "unique" in str(e).lower() or "already exists" in str(e).lower()
            if not lost_race or attempt == tries - 1:
                raise
            time.sleep(0.5 + attempt)


def _hidden(url: str) -> str:
    """The URL without its password, for messages and logs."""
    head, sep, tail = url.partition("://")
    if "@" not in tail:
        return url
    creds, at, host = tail.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if ":" in creds else url

