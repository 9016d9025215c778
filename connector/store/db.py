"""Opening the SQLite store: one connection per thread and process, opened lazily.

Lazily, so that gunicorn's workers each open their own connection *after* the fork (a SQLite
connection must never cross a fork). WAL with ``synchronous=NORMAL``: a commit survives a
process crash, readers never block the writer, and commits do not wait for fsync (a power
cut can lose the last moments of commits; see the README on durability).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

try:
    import fcntl
except ImportError:  # not POSIX: no intake queue, SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

_local = threading.local()


def connect(path: str, busy_timeout_s: float = 10.0) -> sqlite_utils.Database:
    """A new connection with the pragmas every process needs.

    ``isolation_level=None``: Python never opens transactions behind our back. A statement outside
    :func:`write_transaction` commits on its own (see the rule in :mod:`connector.store`).
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal" and path != ":memory:":
        raise sqlite3.OperationalError(f"could not switch {path} to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn, execute_plugins=False)


def get_db(path: str, busy_timeout_s: float = 10.0) -> sqlite_utils.Database:
    """This thread's connection to ``path``, opened on first use in this process."""
    cache: dict[tuple[int, str], sqlite_utils.Database] = getattr(_local, "dbs", None) or {}
    _local.dbs = cache
    key = (os.getpid(), path)
    db = cache.get(key)
    if db is None:
        db = connect(path, busy_timeout_s)
        cache[key] = db
    return db


def close_thread_dbs() -> None:
    """Close every connection this thread opened (tests and worker threads call this)."""
    for db in (getattr(_local, "dbs", None) or {}).values():
        try:
            db.close()
        except sqlite3.Error:
            pass
    _local.dbs = {}


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock *before* reading.

    A deferred transaction that reads and then writes cannot wait for the lock (SQLite answers
    "database is locked" at once to avoid a deadlock); measured here, 4-8 concurrent writers hit
    that most of the time. IMMEDIATE makes such transactions queue on the busy timeout instead.
    """
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


_intake_locks: dict[tuple[int, str], tuple[threading.Lock, int] | None] = {}
_intake_locks_guard = threading.Lock()


def _intake_lock(path: str) -> tuple[threading.Lock, int] | None:
    """This process's (thread lock, lock-file fd) for ``path``; None when there can't be one."""
    key = (os.getpid(), path)  # a forked child must open its own file description
    try:
        return _intake_locks[key]
    except KeyError:
        pass
    with _intake_locks_guard:
        if key not in _intake_locks:
            entry = None
            if fcntl is not None and path != ":memory:":
                try:
                    # Read-only is enough for flock, and keeps the file system free to be remounted read-only.
                    fd = os.open(path + "-intake.lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    entry = (threading.Lock(), fd)
                except OSError:
                    entry = None
            _intake_locks[key] = entry
        return _intake_locks[key]


@contextmanager
def intake_turn(path: str) -> Iterator[None]:
    """Queue webhook intake writes to ``path`` on an OS file lock, across threads and processes.

    Every webhook is one short INSERT, and two gunicorn workers often want SQLite's write lock at
    the same moment. SQLite's busy handler then *sleeps* 1, 2, 5, 10… ms before retrying, while
    the holder needs ~0.1 ms: under ``bench/ingest.py`` ~8% of webhooks slept ≥ 1 ms inside
    ``save_event`` (mean 0.34 ms wall for 0.15 ms CPU); queued here, 1% (mean 0.18 ms). A blocking
    ``flock`` wakes the waiter the moment the holder is done. SQLite's lock stays the authority:
    other writers (worker, CLI) don't take this one, and against them the busy timeout applies as
    before, per statement (so behind a long foreign transaction a queued webhook can wait longer
    than one busy timeout). Without ``fcntl`` or a writable lock file, this is a no-op.
    """
    entry = _intake_lock(path)
    if entry is None:
        yield
        return
    lock, fd = entry
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
