"""The PostgreSQL store: the same queries as SQLite's, run through psycopg 3.

Needs the ``postgres`` extra (``pip install 'shopify-tracking-connector[postgres]'``).

* Statements are the store's own text with ``?`` placeholders, translated once per text.
* Outside :meth:`PgDb.write_transaction` every statement commits by itself (autocommit), as on
  SQLite; inside it, the thread keeps one connection from ``BEGIN`` to ``COMMIT``.
* A process shares one pool (:func:`connector.store.db.get_db`), opened lazily after gunicorn
  forks; every connection handed out is checked first, so a restarted server costs a reconnect,
  not an error. :func:`connect` handles (CLI, migrations at start) hold a single connection.
* Sessions never run with ``synchronous_commit = off``: a webhook is answered 200 only once its
  row is durable (on a synchronous standby too, when the server has one).
"""

from __future__ import annotations

import logging
import select
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from connector.store.db import redact_url
from connector.store.dialect import POSTGRES, WAKEUP_CHANNEL, Dialect

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5
# A session stuck inside a transaction (a frozen process) must not hold row locks for ever.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
# psycopg_pool retries a failed connection with doubling delays (1, 2, 4, 8 … s) until it gives
# the slot up; then the next request that finds no connection starts a fresh attempt. Given up
# after 5 s, the gap between tries stays under ~2 s: a pool is back within moments of a restarted
# server instead of sleeping out a 30 s backoff (the chaos run restarts it every few seconds).
RECONNECT_GIVE_UP_S = 5.0
STOP_CHECK_S = 0.25  # how soon an idle, listening worker notices it is asked to stop


@lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Result:
    """A statement's rows, fetched at once (the connection may go back to the pool)."""

    __slots__ = ("rows", "rowcount", "description")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.description = cursor.description
        self.rows = cursor.fetchall() if cursor.description is not None else []
        self.rowcount = cursor.rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


def _configure(conn: psycopg.Connection[Any], lock_timeout_ms: int) -> None:
    conn.execute(f"SET lock_timeout = {lock_timeout_ms}")
    conn.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}")
    # Durable before the 200: a server (or role) set to off is overridden for our sessions;
    # stronger settings (remote_write, remote_apply) are kept.
    row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is not None and row[0] in ("off", "local"):
        conn.execute("SET synchronous_commit = on")


class _Single:
    """One connection, shared by the threads of a short-lived handle (CLI, start-up)."""

    def __init__(self, url: str, lock_timeout_ms: int) -> None:
        self.url, self.lock_timeout_ms = url, lock_timeout_ms
        self.lock = threading.RLock()
        self.conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.lock:
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
                _configure(self.conn, self.lock_timeout_ms)
            yield self.conn

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


class _Pool:
    """A process's pool; connections are checked when handed out and dropped when broken."""

    def __init__(self, url: str, lock_timeout_ms: int, wait_s: float, max_size: int) -> None:
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=wait_s,
            open=False,
            name="connector",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=lambda conn: _configure(conn, lock_timeout_ms),
            check=ConnectionPool.check_connection,
            reconnect_timeout=RECONNECT_GIVE_UP_S,
        )
        self.pool.open(wait=False)  # a server that is down now is waited for per request

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self.pool.connection()

    def close(self) -> None:
        self.pool.close(timeout=2.0)


class PgDb:
    """The store on a PostgreSQL server; the same methods as :class:`~connector.store.db.SqliteDb`."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, busy_timeout_s: float = 10.0, pool_size: int = 0) -> None:
        self.location = url
        lock_timeout_ms = max(1, int(busy_timeout_s * 1000))
        self._source = (
            _Pool(url, lock_timeout_ms, busy_timeout_s, pool_size) if pool_size else _Single(url, lock_timeout_ms)
        )
        self._local = threading.local()  # the connection of this thread's open transaction
        self._finalizer = weakref.finalize(self, self._source.close)

    def __repr__(self) -> str:
        return f"<PgDb {redact_url(self.location)}>"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return Result(conn.execute(pg_sql(sql), params))
        with self._source.connection() as conn:
            return Result(conn.execute(pg_sql(sql), params))

    def query_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        result = self.execute(sql, params)
        columns = [column.name for column in result.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in result.rows]

    query = query_rows

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    @contextmanager
    def write_transaction(self) -> Iterator[PgDb]:
        if self.in_transaction:
            raise RuntimeError("write_transaction does not nest")
        with self._source.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield self
            finally:
                self._local.conn = None

    def listener(self) -> Listener:
        return Listener(self.location)

    def close(self) -> None:
        self._finalizer()


class Listener:
    """A dedicated connection LISTENing for new events (never pooled: PgBouncer's transaction
    pooling would lose the subscription). Broken by a restart, it reconnects on the next wait."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def _connected(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            self.conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
        return self.conn

    def wait(self, timeout_s: float, stop: threading.Event) -> bool:
        """Up to ``timeout_s`` for a notification (or ``stop``); True when one arrived."""
        try:
            conn = self._connected()
            if not self._readable(conn, timeout_s, stop):
                return False
            woke = False
            conn.pgconn.consume_input()
            while conn.pgconn.notifies() is not None:
                woke = True
            return woke or conn.pgconn.status != pq.ConnStatus.OK
        except (psycopg.Error, OSError) as exc:
            log.info("wake-up connection lost (%s); polling until it is back", exc)
            self.close()
            stop.wait(timeout_s)
            return False

    @staticmethod
    def _readable(conn: psycopg.Connection[Any], timeout_s: float, stop: threading.Event) -> bool:
        """Whether the server sent something within ``timeout_s``. Waits in short slices, so a
        stopping worker (SIGTERM) leaves at once even with a long poll interval."""
        deadline = time.monotonic() + timeout_s
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if select.select([conn.fileno()], [], [], min(left, STOP_CHECK_S))[0]:
                return True
        return False

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
            self.conn = None
