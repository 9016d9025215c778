"""Checking the SQLite file before the store opens it: one line naming the path and what is
wrong, instead of a traceback from deep inside sqlite3 — or a new, empty database where a
mistyped path was meant to be read.

Commands that only read (``status``, ``failures``, ``jobs``…) need the file to exist; the ones
that run the connector (``serve``, ``worker``, ``run``) may create it, in a folder that exists
and is writable. A PostgreSQL location is not a file: nothing to check here.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"  # https://www.sqlite.org/fileformat.html#the_database_header


class DatabaseFileError(Exception):
    """The database file cannot be used; the message names the path and what to fix."""


def check_database_file(path: str, *, must_exist: bool, writable: bool) -> None:
    """Raise :class:`DatabaseFileError` when ``path`` cannot serve as the SQLite store."""
    if path == ":memory:" or path.startswith("file:") or "://" in path:
        return
    file = Path(path)
    folder = file.parent
    if file.is_dir():
        raise DatabaseFileError(f"database {path} is a folder, not a file: correct database.path")
    if not folder.is_dir():
        raise DatabaseFileError(
            f"database {path}: the folder {folder} does not exist (create it, or correct database.path)"
        )
    if not file.exists():
        if must_exist:
            raise DatabaseFileError(
                f"no database at {path}: nothing was ever stored there (correct database.path; "
                "`connector serve`, `worker` or `run` create it)"
            )
        if writable and not os.access(folder, os.W_OK):
            raise DatabaseFileError(f"cannot create database {path}: the folder {folder} is read-only")
        return
    _check_header(path)
    if writable:
        _check_writable(path, folder)


def _check_header(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseFileError(f"cannot read database {path}: {exc.strerror}") from None
    if header and header != SQLITE_HEADER:  # an empty file is a new database to SQLite
        raise DatabaseFileError(f"{path} is not a SQLite database: correct database.path")


def _check_writable(path: str, folder: Path) -> None:
    if not os.access(path, os.W_OK):
        raise DatabaseFileError(
            f"database {path} is read-only: the connector writes to it (check the file's permissions and its filesystem)"
        )
    if not os.access(folder, os.W_OK):  # WAL mode keeps <name>-wal and <name>-shm beside the file
        raise DatabaseFileError(
            f"database {path}: the folder {folder} is read-only, and SQLite writes its -wal file there"
        )
