"""WAL checkpoints off the webhook path: one background thread per web process does them.

By default the connection whose commit pushes the WAL past 1,000 pages copies them back into the
database file and fsyncs it, inside its own statement: one webhook in ~200 then waited 15-80 ms
(measured here), holding the write lock, so every webhook behind it waited too.
Web connections therefore never checkpoint inline. This process's checkpointer copies what the
WAL holds every ``CHECKPOINT_EVERY_S`` beside the writers (SQLite's PASSIVE mode never blocks
them). Under steady intake new frames land during every copy, so the WAL could never start over
and would keep growing: once it holds ``CATCH_UP_FRAMES``, the checkpointer holds SQLite's write
lock on a second connection (``BEGIN IMMEDIATE``; writers wait in their busy handler) while it
copies the few frames written meanwhile, and the next commit starts the WAL from the beginning.
It never waits for readers, as SQLite's RESTART mode would with every writer held off meanwhile.
The worker process does the same: its delivery threads queue behind one group commit
(:mod:`connector.store.group_commit`), and a commit that checkpointed inline held them all.
Interleaved A/B under ``bench/ingest.py``'s closed loop: connector / bare 0.66 vs 0.54 and 0.65 vs
0.60 with the thread, higher in 7 of 8 rounds, the WAL file bounded at ~18 MB (at 2,000 frames).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

from connector.store.db import Db, SqliteDb, connect_sqlite

log = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 0.25
# 40 MB of WAL with 4 KB pages (~1,500 webhooks of 7 KB). Each catch-up holds writers off for the
# checkpoint's two fsyncs, ~25 ms measured here; at 2,000 frames that came every ~0.5 s at peak
# and set the p99 (bench/ingest.py's open loop at half peak, same run: p99 20.0 vs 23.5 ms).
CATCH_UP_FRAMES = 10_000
CATCH_UP_LOCK_WAIT_S = 1.0  # for the write lock; past it, the next pass tries again
IDLE_PASSES = 40  # a thread with nothing to copy for 10 s exits; the next webhook starts another

_running: dict[tuple[int, str], tuple[threading.Thread, threading.Event]] = {}
_running_guard = threading.Lock()


def leave_checkpoints_to_a_thread(db: Db) -> None:
    """A web request's or the worker's handle: on SQLite, turn off its inline checkpoints (once
    per connection) and make sure this process's checkpointer runs. Nothing to do on PostgreSQL."""
    if not isinstance(db, SqliteDb):
        return
    if not db.checkpoints_elsewhere:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.checkpoints_elsewhere = True
    ensure_checkpointer(db.location)


def ensure_checkpointer(path: str) -> None:
    """Make sure this process has a checkpointer thread for ``path`` (cheap: a dict look-up)."""
    key = (os.getpid(), path)  # a forked child needs its own thread
    if key in _running or path == ":memory:":
        return
    with _running_guard:
        if key in _running:
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=_checkpoint_until_idle, args=(path, key, stop), name="wal-checkpoints", daemon=True
        )
        _running[key] = (thread, stop)
    thread.start()


def stop_checkpointers(timeout_s: float = 5.0) -> None:
    """Stop this process's checkpointer threads and close their connections (tests, shutdown)."""
    with _running_guard:
        mine = [entry for key, entry in _running.items() if key[0] == os.getpid()]
    for _, stop in mine:
        stop.set()
    for thread, _ in mine:
        thread.join(timeout_s)


def checkpoint_once(conn: sqlite3.Connection, path: str) -> tuple[int, int]:
    """One pass: copy the WAL back; catch up with writers held off when it has grown large.

    Returns (frames in the WAL, frames copied) as SQLite reports them after the pass.
    """
    _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames < CATCH_UP_FRAMES:
        return frames, copied
    # A checkpoint can't run inside its own connection's transaction: a second one holds the lock.
    holder = connect_sqlite(path, busy_timeout_s=CATCH_UP_LOCK_WAIT_S).conn
    try:
        try:
            holder.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # a long write transaction elsewhere: the next pass tries again
            return frames, copied
        try:
            _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            holder.execute("ROLLBACK")
    finally:
        holder.close()
    return frames, copied


def _checkpoint_until_idle(path: str, key: tuple[int, str], stop: threading.Event) -> None:
    conn: sqlite3.Connection | None = None
    idle, last, failing = 0, (-1, -1), False
    try:
        while idle < IDLE_PASSES and not stop.wait(CHECKPOINT_EVERY_S):
            try:
                conn = conn or connect_sqlite(path).conn
                state = checkpoint_once(conn, path)
            except sqlite3.Error as exc:  # a full disk, a read-only or locked file: retry afresh
                if not failing:
                    log.warning("WAL checkpoint of %s failed (retrying): %s", path, exc)
                failing, idle = True, idle + 1
                if conn is not None:
                    conn.close()
                    conn = None
                continue
            failing = False
            idle = idle + 1 if state == last and state[0] == state[1] else 0
            last = state
    finally:
        with _running_guard:
            _running.pop(key, None)
        if conn is not None:
            conn.close()
