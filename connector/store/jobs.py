"""Re-sync and reconcile jobs: creation, leases, per-page progress, outcome.

A job is run by whoever holds its lease (the web process's background thread, the CLI, or the
worker). Each finished page is recorded in ONE transaction together with the events it queued
and the cursor to continue from, so a crash can lose at most the page in flight — and that page
is fetched again, into the same dedupe keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from connector.models import OPEN_JOB_STATUSES, JobStatus
from connector.store.db import Db
from connector.store.events import NewEvent, save_event
from connector.store.orders import LeaseLostError as LeaseLostError  # re-exported: record_page raises it too
from connector.store.rows import query_rows, where_equal
from connector.timeutil import db_time_in, now_db

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(out["params"])
    out["notes"] = json.loads(out["notes"])
    return out


def create_job(
    db: Db,
    kind: str,
    shop: str,
    params: dict[str, Any],
    owner: str,
    lease_s: float,
    notes: Iterable[str] = (),
    requested_by: str | None = None,
) -> str:
    """A new job, already leased by ``owner`` (so nobody else starts it before its runner)."""
    job_id = uuid.uuid4().hex
    now = now_db()
    db.execute(
        "INSERT INTO jobs (id, kind, shop, params, status, requested_by, notes, created_at, updated_at, "
        f"lease_owner, lease_until) VALUES (?, ?, ?, ?, '{QUEUED}', ?, ?, ?, ?, ?, ?)",
        [
            job_id,
            kind,
            shop,
            json.dumps(params),
            requested_by,
            json.dumps(list(notes)),
            now,
            now,
            owner,
            db_time_in(lease_s),
        ],
    )
    return job_id


def get_job(db: Db, job_id: str) -> dict[str, Any] | None:
    rows = query_rows(db, "SELECT * FROM jobs WHERE id = ?", [job_id])
    return _decode(rows[0]) if rows else None


def job_ids_starting(db: Db, prefix: str, limit: int = 2) -> list[str]:
    """Ids of the jobs whose id starts with ``prefix`` (at most ``limit``), for short ids typed by hand."""
    rows = query_rows(
        db, "SELECT id FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?", [len(prefix), prefix, limit]
    )
    return [row["id"] for row in rows]


def list_jobs(db: Db, shop: str | None = None, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, params = where_equal(shop=shop, kind=kind)
    rows = query_rows(db, f"SELECT * FROM jobs {where} ORDER BY created_at DESC LIMIT ?", [*params, limit])
    return [_decode(r) for r in rows]


def claim_job(db: Db, job_id: str, owner: str, lease_s: float) -> dict[str, Any] | None:
    """Lease an open job for ``owner`` (it may already hold it). None when someone else holds it
    or the job is finished."""
    now = now_db()
    cursor = db.execute(
        f"UPDATE jobs SET lease_owner = ?, lease_until = ?, status = '{RUNNING}', "
        "started_at = coalesce(started_at, ?), updated_at = ? "
        f"WHERE id = ? AND status IN ('{QUEUED}', '{RUNNING}') "
        "AND (lease_owner = ? OR lease_until IS NULL OR lease_until < ?)",
        [owner, db_time_in(lease_s), now, now, job_id, owner, now],
    )
    return get_job(db, job_id) if cursor.rowcount == 1 else None


def orphaned_job_ids(db: Db, limit: int = 10) -> list[str]:
    """Open jobs nobody runs: released on purpose, or whose runner died (lease lapsed)."""
    rows = db.execute(
        f"SELECT id FROM jobs WHERE status IN ('{QUEUED}', '{RUNNING}') "
        "AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at LIMIT ?",
        [now_db(), limit],
    ).fetchall()
    return [r[0] for r in rows]


def _check_lease(db: Db, job_id: str, owner: str) -> list[str]:
    """The job's notes, once we know ``owner`` still runs it (else :class:`LeaseLostError`)."""
    row = db.execute(
        f"SELECT lease_owner, status, notes FROM jobs WHERE id = ?{db.dialect.lock()}", [job_id]
    ).fetchone()
    if row is None or row[0] != owner or row[1] not in OPEN_JOB_STATUSES:
        raise LeaseLostError(job_id)
    return json.loads(row[2])


def record_page(
    db: Db,
    job_id: str,
    owner: str,
    lease_s: float,
    events: list[NewEvent],
    cursor: str | None,
    chunk: int,
    fetched: int,
    skipped: int = 0,
    recovered_keys: AbstractSet[str] = frozenset(),
    notes: Iterable[str] = (),
) -> tuple[int, int, int]:
    """Store a page's events and move the job's cursor. Returns (queued, duplicates, recovered).
    Inside ``write_transaction``: the events and the cursor commit together.

    ``queued``, ``duplicates`` and ``recovered`` count orders; the fulfillments that came with
    them are counted apart (the job's ``fulfillments``: those stored). ``recovered_keys`` are
    dedupe keys of events that restore a state the sync state lacked (reconciliation); only those
    actually stored count, so a repeated page counts nothing twice.
    """
    queued = duplicates = recovered = fulfillments = 0
    job_notes = _check_lease(db, job_id, owner)
    for event in events:
        _, duplicate = save_event(db, event)
        is_order = event.topic.startswith("orders/")
        if duplicate:
            duplicates += is_order
        else:
            queued += is_order
            fulfillments += not is_order
            recovered += is_order and event.dedupe_key in recovered_keys
    extra = list(notes)
    if extra:
        job_notes.append("; ".join(extra))
    db.execute(
        "UPDATE jobs SET cursor = ?, chunk = ?, pages = pages + 1, fetched = fetched + ?, queued = queued + ?, "
        "duplicates = duplicates + ?, skipped = skipped + ?, recovered = recovered + ?, fulfillments = fulfillments + ?, "
        "updated_at = ?, lease_until = ?, notes = ? WHERE id = ?",
        [
            cursor,
            chunk,
            fetched,
            queued,
            duplicates,
            skipped,
            recovered,
            fulfillments,
            now_db(),
            db_time_in(lease_s),
            json.dumps(job_notes),
            job_id,
        ],
    )
    return queued, duplicates, recovered


def set_job_total(db: Db, job_id: str, total: int | None) -> None:
    db.execute("UPDATE jobs SET total = ? WHERE id = ?", [total, job_id])


def finish_job(db: Db, job_id: str, owner: str, status: JobStatus, error: str | None = None) -> None:
    """Final outcome (``done`` or ``failed``); releases the lease."""
    now = now_db()
    db.execute(
        "UPDATE jobs SET status = ?, error = ?, finished_at = ?, updated_at = ?, lease_owner = NULL, "
        "lease_until = NULL WHERE id = ? AND lease_owner = ?",
        [status, error, now, now, job_id, owner],
    )


def release_job(db: Db, job_id: str, owner: str, retry_in_s: float | None = None, error: str | None = None) -> None:
    """Stop running the job but leave it open: resumable at once, or after ``retry_in_s``."""
    db.execute(
        "UPDATE jobs SET lease_owner = NULL, lease_until = ?, error = ?, updated_at = ? "
        "WHERE id = ? AND lease_owner = ?",
        [db_time_in(retry_in_s) if retry_in_s else None, error, now_db(), job_id, owner],
    )


def open_job_for(db: Db, shop: str, kind: str, requested_by: str | None = None) -> str | None:
    """An open job of ``shop`` of ``kind`` (requested by ``requested_by``, when given)."""
    where, params = ("AND requested_by = ?", [requested_by]) if requested_by else ("", [])
    row = db.execute(
        f"SELECT id FROM jobs WHERE shop = ? AND kind = ? AND status IN ('{QUEUED}', '{RUNNING}') {where} LIMIT 1",
        [shop, kind, *params],
    ).fetchone()
    return row[0] if row else None


def get_shop_job(db: Db, shop: str, job_id: str) -> dict[str, Any] | None:
    """A job of ``shop``; None for another shop's (as for no job at all)."""
    rows = query_rows(db, "SELECT * FROM jobs WHERE id = ? AND shop = ?", [job_id, shop])
    return _decode(rows[0]) if rows else None
