"""Storing webhooks as they arrive: the ones that arrive together share one statement.

A webhook's row is cheap; its commit is not (the WAL frames of the row, its body's row in
``event_bodies`` and overflow pages, and two index pages). Here the thread whose turn it is writes every webhook queued in this
process meanwhile, then hands the turn to the next waiting thread: a webhook is still answered
only once its row is committed.

A turn is one multi-row INSERT in autocommit (:func:`connector.store.events.save_events_at_once`):
one call into SQLite, made without the GIL, that takes SQLite's write lock, writes the rows,
commits and releases it. No Python runs while the lock is held, so the lock is never held by a
thread waiting for the GIL. Measured under ``bench/ingest.py``, that wait was most of what the
connector added to a bare HMAC endpoint: with a file lock taken around BEGIN, each INSERT and
COMMIT, every sqlite3 call inside the turn had to win the GIL back from the process's other
threads, and turns took 1.3 ms on average (p90 3 ms) for ~0.15 ms of SQLite work, while the
other worker process waited. Between processes SQLite's own lock decides: a turn that finds it
taken tries again after a short pause (``RETRY_FIRST_S``, doubling up to ``RETRY_MAX_S``) for as
long as the busy timeout allows, on a connection of its own that never sleeps in SQLite's busy
handler.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass

from connector.store.db import STORAGE_FAILURES, Db, SqliteDb, drop_intake_db, intake_db, is_postgres
from connector.store.events import MAX_EVENTS_PER_INSERT, NewEvent, save_event, save_events_at_once
from connector.store.group_commit import Queued, TurnQueue

# Errors of one row, not of the store: the rest of its group is written without it.
ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError)
# While another process holds the write lock (for ~0.1-0.2 ms per statement), a turn tries again
# after these pauses instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms...: a
# quarter of the statements slept there at peak with two worker processes (mean 0.9 ms, p50 0.2).
RETRY_FIRST_S = 0.00005
RETRY_MAX_S = 0.001


@dataclass(eq=False)
class _Waiting(Queued):
    event: NewEvent
    result: tuple[int | None, bool] | None = None
    error: BaseException | None = None

    def outcome(self) -> tuple[int | None, bool]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class _IntakeQueue:
    """This process's queue of webhooks waiting for their commit, for one database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.turns: TurnQueue[_Waiting] = TurnQueue()

    def save(self, db: SqliteDb, event: NewEvent) -> tuple[int | None, bool]:
        mine = _Waiting(event)
        self.turns.take_turn(mine, lambda group: self._write_group(group, db.busy_timeout_s))
        return mine.outcome()

    def _write_group(self, group: list[_Waiting], busy_timeout_s: float) -> None:
        try:
            db = intake_db(self.path)
        except BaseException as exc:  # noqa: BLE001 - a store that can't be opened: each request is told
            for waiting in group:
                waiting.result, waiting.error = None, exc
            return
        self._write(db, group, busy_timeout_s)
        if any(isinstance(waiting.error, STORAGE_FAILURES) for waiting in group):
            drop_intake_db(self.path)  # a full disk, a file swapped underneath: the next turn starts afresh

    def _write(self, db: SqliteDb, group: list[_Waiting], busy_timeout_s: float) -> None:
        for start in range(0, len(group), MAX_EVENTS_PER_INSERT):
            chunk = group[start : start + MAX_EVENTS_PER_INSERT]
            try:
                results = _save_when_unlocked(db, [waiting.event for waiting in chunk], busy_timeout_s)
            except BaseException as exc:  # noqa: BLE001 - handed to each waiting request
                if len(chunk) > 1 and isinstance(exc, ROW_ERRORS):
                    for waiting in chunk:  # a row the store refuses must not take the others with it
                        self._write(db, [waiting], busy_timeout_s)
                    continue
                for waiting in chunk:  # nothing of the chunk is stored: each of them is told
                    waiting.result, waiting.error = None, exc
                continue
            for waiting, result in zip(chunk, results, strict=True):
                waiting.result = result


def _save_when_unlocked(db: SqliteDb, events: list[NewEvent], busy_timeout_s: float) -> list[tuple[int | None, bool]]:
    """:func:`save_events_at_once`, tried again while SQLite answers busy, for ``busy_timeout_s``."""
    deadline = time.monotonic() + busy_timeout_s
    pause = RETRY_FIRST_S
    while True:
        try:
            return save_events_at_once(db, events)
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too (BUSY_RECOVERY…)
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, RETRY_MAX_S)


_queues: dict[tuple[int, str], _IntakeQueue] = {}
_queues_guard = threading.Lock()


def save_webhook_event(db: Db, path: str, event: NewEvent) -> tuple[int | None, bool]:
    """Store a received webhook (``db`` is this thread's handle on ``path``); durable on return.

    Returns ``(event id, duplicate)`` like :func:`connector.store.events.save_event`; raises one of
    ``STORE_ERRORS`` when the commit failed. On PostgreSQL each webhook commits on its own: its
    row-level concurrency has no single write lock to queue for.
    """
    if is_postgres(path) or not isinstance(db, SqliteDb):
        return save_event(db, event)
    key = (os.getpid(), path)  # a forked child starts with an empty queue of its own
    queue = _queues.get(key)
    if queue is None:
        with _queues_guard:
            queue = _queues.setdefault(key, _IntakeQueue(path))
    return queue.save(db, event)
