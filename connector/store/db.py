"""Opening the store: a SQLite file (the embedded default) or a PostgreSQL server.

Both are a :class:`Db`: ``execute`` (a cursor: ``fetchone``/``fetchall``/``rowcount``),
``query_rows`` (dicts), ``write_transaction`` and a :mod:`~connector.store.dialect`. Where the
store lives is its *location*: ``database.url`` when set (``postgresql://…``), else the file at
``database.path`` (:func:`location_of`).

Handles are opened lazily, so that gunicorn's workers each open their own *after* the fork: a
SQLite connection per thread and process; one PostgreSQL pool per process, shared by its threads.
SQLite runs in WAL with ``synchronous=NORMAL``: a commit survives a process crash, readers never
block the writer, and commits do not wait for fsync (a power cut can lose the last moments of
commits; see the README on durability). PostgreSQL commits durably (see :mod:`.postgres`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlite_utils

from connector.store.dialect import SQLITE, Dialect

if TYPE_CHECKING:
    from connector.store.postgres import PgDb

# The postgres extra (psycopg) is optional: without it the store is SQLite only.
HAVE_POSTGRES = importlib.util.find_spec("psycopg") is not None


def _psycopg_errors(*names: str) -> tuple[type[BaseException], ...]:
    """psycopg's exception classes of these names; none without the postgres extra."""
    if not HAVE_POSTGRES:
        return ()
    module = importlib.import_module("psycopg")
    return tuple(getattr(module, name) for name in names)


# What a failing store raises, whichever engine: callers that must survive one (webhook intake
# answers 503, /readyz, the worker loop pauses and resumes) catch these.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, *_psycopg_errors("Error"))
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_MISSING = (
    "database.url is a PostgreSQL URL, but PostgreSQL support is not installed: "
    "pip install 'shopify-tracking-connector[postgres]'"
)

_local = threading.local()
_shared: dict[tuple[int, str], Any] = {}
_shared_guard = threading.Lock()


class Settings(Protocol):
    """What the store reads of the configuration (``connector.config.Settings``)."""

    def __getitem__(self, name: str) -> Any: ...


class Listener(Protocol):
    """Wakes a waiting worker when new events are stored (PostgreSQL's LISTEN/NOTIFY)."""

    def wait(self, timeout_s: float, stop: threading.Event) -> bool: ...
    def close(self) -> None: ...


class Db(Protocol):
    """What the store's modules use of a database handle."""

    dialect: Dialect
    location: str

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def query_rows(self, sql: str, params: Sequence[Any] = ...) -> list[dict[str, Any]]: ...
    def write_transaction(self) -> AbstractContextManager[Any]: ...
    def listener(self) -> Listener | None: ...
    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


class SqliteDb(sqlite_utils.Database):
    """A SQLite connection (a sqlite-utils ``Database``) with the store's :class:`Db` methods."""

    dialect: Dialect = SQLITE
    # A web request's handle leaves WAL checkpoints to a thread (connector.store.checkpoints).
    checkpoints_elsewhere = False

    def __init__(self, conn: sqlite3.Connection, location: str, busy_timeout_s: float = 10.0) -> None:
        super().__init__(conn, execute_plugins=False)
        self.location = location
        self.busy_timeout_s = busy_timeout_s

    def query_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # Straight on the connection: sqlite-utils' query() wraps each read in a savepoint,
        # three statements per read, a third of the worker's SQL in the delivery hot path.
        cursor = self.conn.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @contextmanager
    def write_transaction(self) -> Iterator[SqliteDb]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock *before* reading.

        A deferred transaction that reads and then writes cannot wait for the lock (SQLite
        answers "database is locked" at once to avoid a deadlock); measured here, 4-8 concurrent
        writers hit that most of the time. IMMEDIATE makes such transactions queue on the busy
        timeout instead. This process's writers queue first on a thread lock of the file
        (:func:`_write_lock`): SQLite's busy handler *sleeps* 1, 2, 5, 10 ms between tries while
        a holder needs well under one, and 16 delivery threads spent 23-35 ms per order asleep
        there (profiling under ``bench/deliver.py``); a lock wakes the next writer at once.
        SQLite's lock stays the authority between processes.
        """
        lock = _write_lock(self.location)
        if lock is not None and not lock.acquire(timeout=self.busy_timeout_s):
            raise sqlite3.OperationalError("database is locked (waited for this process's other writers)")
        try:
            with self._immediate():
                yield self
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
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

    def listener(self) -> None:
        """SQLite workers poll: there is no one to tell them about new events."""
        return None


def is_postgres(location: str) -> bool:
    return location.startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """A database URL with its password (in the authority or a ``password=`` parameter) hidden."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def store_engine_available(location: str) -> bool:
    """Whether this installation can open ``location`` (PostgreSQL needs the postgres extra)."""
    return not is_postgres(location) or HAVE_POSTGRES


def location_of(settings: Settings) -> str:
    """Where the store is: ``database.url`` when set, else the SQLite file ``database.path``."""
    return settings["database.url"] or settings["database.path"]


def connect(location: str, busy_timeout_s: float = 10.0) -> Db:
    """A new handle of its own (the caller closes it), on one connection."""
    if is_postgres(location):
        return _pg_class()(location, busy_timeout_s)
    return connect_sqlite(location, busy_timeout_s)


def connect_sqlite(path: str, busy_timeout_s: float = 10.0) -> SqliteDb:
    """``isolation_level=None``: Python never opens transactions behind our back. A statement
    outside :func:`write_transaction` commits on its own (see the rule in :mod:`connector.store`)."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    try:
        _set_pragmas(conn, path, busy_timeout_s)
    except BaseException:
        conn.close()  # a read-only or full disk fails here: the half-made connection is not kept
        raise
    return SqliteDb(conn, path, busy_timeout_s)


_write_locks: dict[tuple[int, str], threading.Lock] = {}


def _write_lock(path: str) -> threading.Lock | None:
    """This process's lock for write transactions on ``path`` (none for ``:memory:``, which is
    a database of its own per connection). Keyed by pid: a child forked while a parent thread
    held it must not inherit it held."""
    if path == ":memory:":
        return None
    key = (os.getpid(), path)
    lock = _write_locks.get(key)
    if lock is None:
        with _shared_guard:
            lock = _write_locks.setdefault(key, threading.Lock())
    return lock


def _set_pragmas(conn: sqlite3.Connection, path: str, busy_timeout_s: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal" and path != ":memory:":
        raise sqlite3.OperationalError(f"could not switch {path} to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Freed space is zeroed, so an old copy of an updated row (an event body holding a customer's
    # address) cannot outlive a customers/redact in the file. Debian's builds default to it;
    # others do not.
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA foreign_keys = ON")
    # A savepoint's journal (each write of a group commit, each run of triage) past 64 KB, and a
    # statement's, go to a temporary file by default: two system calls per page, 44 of the 57
    # writes per delivered order in bench/deliver.py. In memory they cost none, and need no
    # writable temporary directory. Sorts and materialized subqueries go there too; the
    # connector's follow an index or hold a page or a batch of rows.
    conn.execute("PRAGMA temp_store = MEMORY")


def _pg_class() -> type[PgDb]:
    if not HAVE_POSTGRES:  # load_settings says so first, in one line (connector.config)
        raise ModuleNotFoundError(POSTGRES_MISSING)
    from connector.store.postgres import PgDb

    return PgDb


class _ThreadDbs(dict[tuple[int, str], SqliteDb]):
    """One thread's SQLite connections, keyed by (pid, path); closed when the thread ends (a
    worker's delivery threads, a job thread), not left for the garbage collector."""

    def close_all(self) -> None:
        for (pid, _), db in list(self.items()):
            if pid == os.getpid():  # never one inherited across a fork: its owner still uses the file
                try:
                    db.close()
                except sqlite3.Error:
                    pass
        self.clear()

    def __del__(self) -> None:
        self.close_all()


def get_db(location: str, busy_timeout_s: float = 10.0, pool_size: int = 10) -> Db:
    """This process's handle on ``location``, opened on first use: per thread for SQLite, one
    pool shared by every thread for PostgreSQL."""
    key = (os.getpid(), location)
    if is_postgres(location):
        with _shared_guard:
            if key not in _shared:
                _shared[key] = _pg_class()(location, busy_timeout_s, pool_size=max(2, pool_size))
            return _shared[key]
    cache: _ThreadDbs | None = getattr(_local, "dbs", None)
    if cache is None:
        cache = _local.dbs = _ThreadDbs()
    db = cache.get(key)
    if db is None:
        db = connect_sqlite(location, busy_timeout_s)
        cache[key] = db
    return db


_intake_dbs: dict[tuple[int, str], SqliteDb] = {}
_commit_dbs: dict[tuple[int, str], SqliteDb] = {}


def intake_db(location: str) -> SqliteDb:
    """This process's connection to the SQLite file ``location`` for storing webhooks, used by one
    thread at a time (the one whose intake turn it is, :mod:`connector.store.intake`).

    One per process rather than per thread: SQLite drops a connection's page cache whenever
    another connection has written, so a turn on a thread's own connection re-read the b-tree
    pages every time another thread had written last (~45 µs of ~80 µs per INSERT, measured).
    It never waits in SQLite's busy handler (busy timeout 0: the intake retries in steps of well
    under a millisecond) and never checkpoints inline (a thread does, :mod:`connector.store.checkpoints`).
    Closed by :func:`close_shared_dbs`, or by :func:`drop_intake_db` after a failure."""
    return _process_db(_intake_dbs, location, 10.0, "PRAGMA busy_timeout = 0")


def drop_intake_db(location: str) -> None:
    """Close this process's intake connection to ``location`` (the next turn opens another)."""
    _drop_process_db(_intake_dbs, location)


def group_commit_db(location: str, busy_timeout_s: float) -> SqliteDb:
    """This process's connection to the SQLite file ``location`` for the delivery threads' group
    commits (:mod:`connector.store.group_commit`), used by one thread at a time: the leader of
    the turn. For the reason :func:`intake_db` gives: on the leader's own connection, whose page
    cache another connection's commit had dropped, each group commit read its pages again
    (bench/deliver.py: 5-8% of the worker's CPU per order). Never checkpoints inline. Closed by
    :func:`close_shared_dbs`, or by :func:`drop_group_commit_db` after a failure."""
    return _process_db(_commit_dbs, location, busy_timeout_s)


def drop_group_commit_db(location: str) -> None:
    _drop_process_db(_commit_dbs, location)


def _process_db(
    registry: dict[tuple[int, str], SqliteDb], location: str, busy_timeout_s: float, *pragmas: str
) -> SqliteDb:
    """``registry``'s connection of this process to ``location``, opened on first use (keyed by
    pid: a forked child opens its own)."""
    key = (os.getpid(), location)
    db = registry.get(key)
    if db is None:
        with _shared_guard:
            db = registry.get(key)
            if db is None:
                db = connect_sqlite(location, busy_timeout_s)  # opening it may wait for a lock like any other
                try:
                    for pragma in ("PRAGMA wal_autocheckpoint = 0", *pragmas):
                        db.execute(pragma)
                except BaseException:
                    db.close()
                    raise
                db.checkpoints_elsewhere = True
                registry[key] = db
    return db


def _drop_process_db(registry: dict[tuple[int, str], SqliteDb], location: str) -> None:
    with _shared_guard:
        db = registry.pop((os.getpid(), location), None)
    if db is not None:
        try:
            db.close()
        except sqlite3.Error:
            pass


def db_for(settings: Settings) -> Db:
    """This process's (and thread's) handle on the configured store."""
    pool_size = max(settings["database.pool_size"], settings["worker.concurrency"] + 4)
    return get_db(location_of(settings), settings["database.busy_timeout_s"], pool_size)


def connect_for(settings: Settings) -> Db:
    """A new handle on the configured store, of its own (the caller closes it)."""
    return connect(location_of(settings), settings["database.busy_timeout_s"])


def close_thread_dbs() -> None:
    """Close every SQLite connection this thread opened (tests and job threads call this)."""
    cache: _ThreadDbs | None = getattr(_local, "dbs", None)
    if cache is not None:
        cache.close_all()


def close_shared_dbs() -> None:
    """Close this process's PostgreSQL pools and its SQLite intake and group-commit connections
    (at exit, and between tests)."""
    with _shared_guard:
        mine = [key for key in _shared if key[0] == os.getpid()]
        for key in mine:
            _shared.pop(key).close()
        for registry in (_intake_dbs, _commit_dbs):
            for key in [key for key in registry if key[0] == os.getpid()]:
                registry.pop(key).close()


def write_transaction(db: Db) -> Any:
    """The one way to run statements atomically (see :mod:`connector.store`): on SQLite
    ``BEGIN IMMEDIATE`` … ``COMMIT``; on PostgreSQL ``BEGIN`` … ``COMMIT`` on one connection,
    with the dialect's row locks where a read decides a write."""
    return db.write_transaction()


@contextmanager
def savepoint(db: Db, name: str = "step") -> Iterator[None]:
    """A nested unit inside :func:`write_transaction`: on an exception only its own writes are
    undone (``ROLLBACK TO SAVEPOINT``), and the exception goes on to the caller, which decides
    whether the whole transaction still commits. Standard SQL: SQLite and PostgreSQL run it."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        db.execute(f"ROLLBACK TO SAVEPOINT {name}")
        db.execute(f"RELEASE SAVEPOINT {name}")
        raise
    db.execute(f"RELEASE SAVEPOINT {name}")


# The store itself failed (locked, disk full, read-only, I/O, the server gone or restarting):
# SQLite's OperationalError; psycopg's OperationalError (lock timeouts, serialization failures and
# lost connections are subclasses) and InterfaceError (a closed connection).
STORAGE_FAILURES: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    *_psycopg_errors("OperationalError", "InterfaceError"),
)


def is_storage_failure(exc: BaseException) -> bool:
    """True when the store itself failed: the work is to be retried later as it is. Any other
    exception while handling an event (an unbindable value, a constraint, a bug) is that
    event's fault: the same on every retry."""
    return isinstance(exc, STORAGE_FAILURES)
