"""Several delivery threads' write transactions committed as one, on SQLite (group commit).

SQLite has one writer at a time. Sixteen delivery threads each recording a step in a transaction
of its own queue on the write lock: profiled under ``bench/deliver.py``, most transactions began
with several others already waiting, and each paid its own ``BEGIN IMMEDIATE``, its own
``COMMIT`` (every page it touched written to the WAL again: the order's row and four of its
indexes, the event and its state index, the attempt) and a hand-over of the lock.

Here the thread that finds nobody committing becomes the *leader*: it takes every write queued
meanwhile and runs them in one transaction, each in a savepoint of its own, and commits once;
the others wait for that commit. Every leader uses the process's one group-commit connection
(:func:`connector.store.db.group_commit_db`), whose page cache stays warm from one group to the
next. Nothing changes for the guarantees: a thread returns only once
its write is committed (or with its error), so a step is durable before the delivery goes on,
exactly as before; one write's failure (a lost lease) undoes that write alone; a failure of the
store itself (locked, full, read-only) rolls the whole transaction back and every write in it
gets the error, to be retried by its own thread (``OrderDelivery._durably``).

PostgreSQL commits each write in a transaction of its own, as before: its writers do not queue
on one lock, and one transaction across several orders would hold their row locks longer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from connector.store.checkpoints import ensure_checkpointer
from connector.store.db import (
    Db,
    SqliteDb,
    drop_group_commit_db,
    group_commit_db,
    is_storage_failure,
    savepoint,
    write_transaction,
)

Write = Callable[[Db], None]


@dataclass(eq=False, kw_only=True)
class Queued:
    """A thread's item in a :class:`TurnQueue` (subclasses add what it carries and its result)."""

    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to commit what is queued, not because its item is done


Item = TypeVar("Item", bound=Queued)


class TurnQueue(Generic[Item]):
    """Threads that each want something committed to one SQLite file, in this process: the one
    that finds nobody committing becomes the *leader* and commits every item queued meanwhile (its
    own among them) in one go; the others wait for that, and the first of those who came
    meanwhile leads next. Used by webhook intake (:mod:`connector.store.intake`) and by delivery
    steps (:class:`GroupCommit`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[Item] = []
        self._leading = False

    def take_turn(self, item: Item, commit: Callable[[list[Item]], None]) -> None:
        """Return once ``item`` was committed, by this thread (with ``commit``) or by another's;
        ``commit`` records each item's outcome on it and never raises."""
        with self._lock:
            self._queued.append(item)
            follower, self._leading = self._leading, True
        if follower:
            item.done.wait()
        if not follower or item.lead:
            self._lead(commit)

    def _lead(self, commit: Callable[[list[Item]], None]) -> None:
        with self._lock:
            batch, self._queued = self._queued, []
        try:
            commit(batch)
        finally:
            with self._lock:
                if self._queued:  # came while we committed: the first of them leads next
                    self._queued[0].lead = True
                    self._queued[0].done.set()
                else:
                    self._leading = False
            for queued in batch:
                queued.lead = False
                queued.done.set()


@dataclass(eq=False)
class _QueuedWrite(Queued):
    write: Write
    error: BaseException | None = None


class GroupCommit:
    """The queue of delivery writes waiting for one SQLite file's write lock, in this process."""

    def __init__(self) -> None:
        self._turns: TurnQueue[_QueuedWrite] = TurnQueue()
        self.transactions = 0  # committed or not: what a test or a profile counts
        self.writes = 0

    def run(self, db: SqliteDb, write: Write) -> None:
        """Run ``write`` in a transaction on the group-commit connection to ``db``'s file, perhaps
        shared with other threads' writes; return once it is committed, or raise what ``write`` or
        the store raised."""
        queued = _QueuedWrite(write)
        self._turns.take_turn(queued, lambda batch: self._lead(db, batch))
        if queued.error is not None:
            raise queued.error

    def _lead(self, db: SqliteDb, batch: list[_QueuedWrite]) -> None:
        try:
            writer = group_commit_db(db.location, db.busy_timeout_s)
        except BaseException as exc:  # noqa: BLE001 - a store that can't be opened: each writer is told
            for queued in batch:
                queued.error = exc
            return
        ensure_checkpointer(db.location)  # this connection leaves checkpoints to that thread
        self._commit(writer, batch)
        if any(queued.error is not None and is_storage_failure(queued.error) for queued in batch):
            drop_group_commit_db(db.location)  # a full disk, a file swapped underneath: the next leader starts afresh

    def _commit(self, db: Db, batch: list[_QueuedWrite]) -> None:
        self.transactions += 1
        self.writes += len(batch)
        try:
            with write_transaction(db):
                if len(batch) == 1:  # alone: its failure undoes the transaction, as it always did
                    _run_alone(db, batch[0])
                else:
                    for queued in batch:
                        _run_in_savepoint(db, queued)
        except BaseException as exc:  # noqa: BLE001 - rolled back: each write gets the error, raised in its thread
            for queued in batch:
                queued.error = (queued.error or exc) if len(batch) == 1 else exc


def _run_alone(db: Db, queued: _QueuedWrite) -> None:
    try:
        queued.write(db)
    except BaseException as exc:
        queued.error = exc
        raise


def _run_in_savepoint(db: Db, queued: _QueuedWrite) -> None:
    """One write of several: its own failure undoes it alone; the store's, the transaction."""
    try:
        with savepoint(db, "grouped_write"):
            queued.write(db)
    except Exception as exc:
        if is_storage_failure(exc):
            raise
        queued.error = exc


_groups: dict[tuple[int, str], GroupCommit] = {}
_groups_guard = threading.Lock()


def commit_write(db: Db, write: Write) -> None:
    """``write(db)`` committed: with other threads' writes on SQLite (see the module docstring),
    in a transaction of its own on PostgreSQL."""
    if not db.dialect.global_write_lock or db.location == ":memory:":
        with write_transaction(db):
            write(db)
        return
    assert isinstance(db, SqliteDb)  # the one dialect with a global write lock
    group_for(db.location).run(db, write)


def group_for(location: str) -> GroupCommit:
    """This process's queue for ``location`` (keyed by pid: a forked child starts its own)."""
    key = (os.getpid(), location)
    group = _groups.get(key)
    if group is None:
        with _groups_guard:
            group = _groups.setdefault(key, GroupCommit())
    return group
