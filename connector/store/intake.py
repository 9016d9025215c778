"""Storing webhooks as they arrive: the ones that arrive together share one commit.

A webhook's INSERT is cheap; its commit is not (the WAL frames of the row, its body's overflow
pages and two index pages, and now and then the checkpoint). Profiled under ``bench/ingest.py``,
that commit was most of what the connector adds to a bare HMAC endpoint, and intake writers take
turns on it (:func:`connector.store.db.intake_turn`), so at peak the app threads of a process
queued for it one by one. Here the thread whose turn it is writes every webhook queued in this
process meanwhile in one transaction, then hands the turn to the next waiting thread: a webhook
is still answered only once its row is committed, and alone it is one autocommit INSERT as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass, field

from connector.store.db import Db, intake_turn, is_postgres, write_transaction
from connector.store.events import NewEvent, save_event

# Errors of one row, not of the store: the rest of its group is written without it.
ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError)


@dataclass(eq=False)
class _Waiting:
    event: NewEvent
    ready: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # woken to write the next group, not with a result
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
        self.lock = threading.Lock()
        self.waiting: list[_Waiting] = []
        self.writing = False

    def save(self, db: Db, event: NewEvent) -> tuple[int | None, bool]:
        mine = _Waiting(event)
        with self.lock:
            self.waiting.append(mine)
            leads = not self.writing
            self.writing = True
        if not leads:
            mine.ready.wait()
            if not mine.leads:
                return mine.outcome()
        with self.lock:
            group, self.waiting = self.waiting, []
        try:
            self._write(db, group)
        finally:
            with self.lock:
                if self.waiting:  # the next group is written by its first thread, not by this one
                    self.waiting[0].leads = True
                    self.waiting[0].ready.set()
                else:
                    self.writing = False
            for waiting in group:
                waiting.ready.set()
        return mine.outcome()

    def _write(self, db: Db, group: list[_Waiting]) -> None:
        try:
            with intake_turn(self.path):
                if len(group) == 1:
                    group[0].result = save_event(db, group[0].event)
                else:
                    with write_transaction(db):
                        for waiting in group:
                            waiting.result = save_event(db, waiting.event)
        except BaseException as exc:  # noqa: BLE001 - handed to each waiting request
            if len(group) > 1 and isinstance(exc, ROW_ERRORS):
                for waiting in group:  # a row the store refuses must not take the others with it
                    self._write(db, [waiting])
                return
            for waiting in group:  # nothing of the group is stored: each of them is told
                waiting.result, waiting.error = None, exc


_queues: dict[tuple[int, str], _IntakeQueue] = {}
_queues_guard = threading.Lock()


def save_webhook_event(db: Db, path: str, event: NewEvent) -> tuple[int | None, bool]:
    """Store a received webhook (``db`` is this thread's handle on ``path``); durable on return.

    Returns ``(event id, duplicate)`` like :func:`connector.store.events.save_event`; raises one of
    ``STORE_ERRORS`` when the commit failed. On PostgreSQL each webhook commits on its own: its
    row-level concurrency has no single write lock to queue for.
    """
    if is_postgres(path):
        return save_event(db, event)
    key = (os.getpid(), path)  # a forked child starts with an empty queue of its own
    queue = _queues.get(key)
    if queue is None:
        with _queues_guard:
            queue = _queues.setdefault(key, _IntakeQueue(path))
    return queue.save(db, event)
