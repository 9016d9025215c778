"""The intake journal: webhooks appended to a file before the 200, filed into SQLite in batches.

Measured under ``bench/ingest.py``, storing a webhook in SQLite within its request was what the
connector added to a bare HMAC endpoint (the app with its storing step taken out served 0.95
of the bare endpoint's peak, with it 0.59, in one run): the INSERT of a 4-12 KB body, its
commit, and the two web processes taking turns at one write lock, each turn invalidating the
other's page cache. Appending the same bytes to a file costs ~40 µs; the worker files them
later, a few hundred to a transaction with each body written once (~0.1 ms a webhook), off the
request path.

Durability is the database's: the 200 is sent once ``os.write`` has handed the record to the
kernel, which is what a SQLite commit under ``synchronous=NORMAL`` (the store's setting) gives
too: it survives the process crashing, and a power loss may take the last moments of both.

Layout: ``<database file>.intake/``, one file per web process at a time. A process holds an
``flock`` on its open file; it closes the file (and starts another on its next webhook) once
the file is ``ROTATE_AFTER_S`` old or ``ROTATE_AT_BYTES`` long. Whoever files (the worker, or
``db backup``/``db copy`` before they read the database) takes only files it can lock: closed
ones, or ones whose process died. Filing is idempotent, since the events table ignores a
(shop, topic, dedupe key) it already has, so a filer that dies halfway files the file again.

Each record: ``MAGIC``, then the lengths of its metadata (JSON) and body and a CRC-32 of both
(``RECORD_HEAD``), then the metadata and the raw body. A record cut short or damaged can only be
the last one written when the host lost power; filing stops there and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from connector.store.db import SqliteDb, write_transaction
from connector.store.events import MAX_EVENTS_PER_INSERT, NewEvent, save_events_with_bodies
from connector.timeutil import now_db

log = logging.getLogger(__name__)

MAGIC = b"CWH1"
RECORD_HEAD = struct.Struct(">4sIII")  # magic, metadata length, body length, CRC-32 of both
# A file is closed (and so can be filed) this long after its first record: what filing adds to
# a webhook's way to its target, on top of the worker's poll.
ROTATE_AFTER_S = 0.2
ROTATE_AT_BYTES = 8 * 1024 * 1024
# The worker files the journal this often while it runs (and on every pass of a ``--once`` run):
# filing in fewer, larger transactions costs less per webhook, and leaves the cores to the web
# processes for longer stretches (bench/ingest.py: 0.80 of the bare endpoint's peak filing every
# 0.25 s, 0.73 every 0.05 s, the filing counted).
FILE_EVERY_S = 0.25
BATCH_BYTES = 16 * 1024 * 1024  # filed in one transaction: memory for the records, not more
OPEN_SUFFIX, CLOSED_SUFFIX = ".new", ".jnl"  # a file is renamed to .jnl once it is locked
# A .new file older than this whose creator is gone holds nothing (it is renamed before use).
STALE_NEW_S = 60.0


def journal_dir(location: str) -> Path:
    """Where the journal of the SQLite file ``location`` lives (beside it)."""
    return Path(f"{location}.intake")


class IntakeJournal:
    """This process's journal file for one database, appended to by the web request threads."""

    def __init__(self, location: str) -> None:
        self.directory = journal_dir(location)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._rotator: threading.Timer | None = None

    def append(self, event: NewEvent) -> None:
        """Write ``event`` (received now) to the journal; it is stored once this returns.

        Raises ``OSError`` when it could not be written (a full disk, a read-only folder);
        nothing of it is left behind then."""
        record = encode_record(event, now_db())
        with self._lock:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            try:
                written = os.write(self._fd, record)
                if written != len(record):  # a regular file writes short only when it cannot go on
                    raise OSError(f"journal: wrote {written} of {len(record)} bytes")
            except OSError:
                self._undo_partial_write()
                raise
            self._size += len(record)
            if self._size >= ROTATE_AT_BYTES:
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> None:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}"
        fresh = self.directory / f"{name}{OPEN_SUFFIX}"
        fd = os.open(fresh, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # ours until closed: no filer takes it meanwhile
            os.rename(fresh, self.directory / f"{name}{CLOSED_SUFFIX}")
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                fresh.unlink()
            raise
        self._fd, self._size = fd, 0
        self._rotator = threading.Timer(ROTATE_AFTER_S, self._close_if_still, args=(fd,))
        self._rotator.daemon = True
        self._rotator.start()

    def _close_if_still(self, fd: int) -> None:
        with self._lock:
            if self._fd == fd:
                self._close()

    def _close(self) -> None:
        if self._rotator is not None:
            self._rotator.cancel()
            self._rotator = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # releases the lock: the file can be filed now

    def _undo_partial_write(self) -> None:
        """Cut the file back to its last whole record; if even that fails, give the file up
        (its whole records are filed all the same) and start another on the next webhook."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._close()


# What a record keeps of a NewEvent besides its body, in this order (a list: asdict() and a dict
# of names cost more than the rest of the append together).
_FIELDS = ("shop", "topic", "dedupe_key", "webhook_id", "event_id", "api_version", "triggered_at", "test", "source")


def encode_record(event: NewEvent, received_at: str) -> bytes:
    meta = [getattr(event, name) for name in _FIELDS]
    meta.append(received_at)
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    crc = zlib.crc32(event.body, zlib.crc32(meta_bytes))
    return b"".join((RECORD_HEAD.pack(MAGIC, len(meta_bytes), len(event.body), crc), meta_bytes, event.body))


def decode_records(data: bytes) -> tuple[list[NewEvent], int]:
    """The events in a journal file's bytes, and how many bytes at its end were not a whole record."""
    events: list[NewEvent] = []
    offset = 0
    while offset + RECORD_HEAD.size <= len(data):
        magic, meta_len, body_len, crc = RECORD_HEAD.unpack_from(data, offset)
        start = offset + RECORD_HEAD.size
        end = start + meta_len + body_len
        if magic != MAGIC or end > len(data):
            break
        meta_bytes, body = data[start : start + meta_len], data[start + meta_len : end]
        if zlib.crc32(body, zlib.crc32(meta_bytes)) != crc:
            break
        *fields, received_at = json.loads(meta_bytes.decode())
        events.append(NewEvent(**dict(zip(_FIELDS, fields, strict=True)), body=body, received_at=received_at))
        offset = end
    return events, len(data) - offset


def file_journals(
    db: SqliteDb, location: str, budget_s: float | None = None, wait: bool = False, batch_bytes: int = BATCH_BYTES
) -> int:
    """File the journal records of ``location`` that no web process is writing any more into
    ``db``'s events; return how many records were filed (duplicates included).

    The files found closed are filed in one transaction (up to ``batch_bytes`` of them, at least
    one file, then another): one commit, and each index page written to the WAL once, for all.
    ``budget_s``: take no further batch after that long (the worker delivers meanwhile).
    ``wait``: also wait for the files web processes are still writing, for as long as a file is
    kept open (``ROTATE_AFTER_S``): what a ``worker --once`` run must see of a webhook already
    answered."""
    directory = journal_dir(location)
    if not directory.is_dir():
        return 0
    if wait:  # this process's own file (a web app and a worker in one process) need not wait
        own = _journals.get((os.getpid(), location))
        if own is not None:
            own.close()
    started = time.monotonic()
    filed = 0
    while True:
        paths = sorted(directory.iterdir())
        for path in paths:
            if path.suffix == OPEN_SUFFIX:
                _drop_if_stale(path)
        waiting = [path for path in paths if path.suffix == CLOSED_SUFFIX]
        still_open: list[Path] = []
        while waiting:
            count, waiting, busy = _file_batch(db, waiting, batch_bytes)
            filed += count
            still_open += busy
            if budget_s is not None and time.monotonic() - started > budget_s:
                return filed
        if not wait or not any(_opened_s_ago(path) < ROTATE_AFTER_S + 1.0 for path in still_open):
            return filed
        time.sleep(ROTATE_AFTER_S / 4)


def _file_batch(db: SqliteDb, paths: list[Path], batch_bytes: int) -> tuple[int, list[Path], list[Path]]:
    """File the first of ``paths`` that are closed, up to ``batch_bytes``, in one transaction, and
    remove them. Returns (records filed, paths not looked at yet, paths still being written).
    A store failure leaves every file in place, to be filed again."""
    with contextlib.ExitStack() as locks:
        taken: list[tuple[Path, list[NewEvent]]] = []
        busy: list[Path] = []
        size = 0
        rest = list(paths)
        while rest and size < batch_bytes:
            path = rest.pop(0)
            data = locks.enter_context(_locked(path))
            if data is None:
                busy.append(path)
                continue
            taken.append((path, _decode_file(path, data)))
            size += len(data)
        # In the order they came: each web process has its own files, open at the same time.
        events = sorted((event for _, file_events in taken for event in file_events), key=_received_at)
        if events:  # only files still being written (every pass, mostly): no write lock for nothing
            with write_transaction(db):
                for start in range(0, len(events), MAX_EVENTS_PER_INSERT):
                    save_events_with_bodies(db, events[start : start + MAX_EVENTS_PER_INSERT])
        for path, _ in taken:
            path.unlink()  # still under our lock: nobody else reads it meanwhile
    return len(events), rest, busy


def _received_at(event: NewEvent) -> str:
    return event.received_at or ""


def _decode_file(path: Path, data: bytes) -> list[NewEvent]:
    events, torn = decode_records(data)
    if torn:
        log.warning(
            "journal %s: %d bytes at its end were not a whole record (cut off by a crash); filed %d before them",
            path.name,
            torn,
            len(events),
        )
    return events


def _opened_s_ago(path: Path) -> float:
    """How long ago a journal file was opened (its name starts with that time, in ns)."""
    try:
        return time.time() - int(path.name.split("-", 1)[0]) / 1e9
    except ValueError:
        return float("inf")


class Backlog(NamedTuple):
    """The journal files of answered webhooks not filed yet (some may still be being written)."""

    files: int
    oldest_age_s: float | None  # since the oldest of them was opened


def journal_backlog(location: str) -> Backlog:
    """What waits in ``location``'s journal: for ``connector status`` and the metrics."""
    directory = journal_dir(location)
    ages = (
        [_opened_s_ago(path) for path in directory.iterdir() if path.suffix == CLOSED_SUFFIX]
        if directory.is_dir()
        else []
    )
    return Backlog(len(ages), max(ages) if ages else None)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bytes | None]:
    """``path``'s bytes while we hold its lock, or None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None  # filed meanwhile by another process
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        if not path.exists():  # filed and removed between our open and our lock
            yield None
            return
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read()
        yield data
    finally:
        os.close(fd)


def _drop_if_stale(path: Path) -> None:
    """A ``.new`` file is renamed before anything is written to it: one left over is empty."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - path.stat().st_mtime > STALE_NEW_S:
            with _locked(path) as data:
                if data is not None:
                    path.unlink()


_journals: dict[tuple[int, str], IntakeJournal] = {}
_journals_guard = threading.Lock()


def journal_for(location: str) -> IntakeJournal:
    """This process's journal for ``location`` (keyed by pid: a forked child starts its own)."""
    key = (os.getpid(), location)
    journal = _journals.get(key)
    if journal is None:
        with _journals_guard:
            journal = _journals.setdefault(key, IntakeJournal(location))
    return journal


def close_journals() -> None:
    """Close this process's journal files (each can be filed then; the next webhook opens another)."""
    with _journals_guard:
        journals = [journal for (pid, _), journal in _journals.items() if pid == os.getpid()]
    for journal in journals:
        journal.close()
