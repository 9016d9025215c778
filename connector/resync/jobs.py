"""Starting jobs: check the shop, explain limits up front, create the (leased) job row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connector.accounts.stored import load_profile
from connector.config import Settings
from connector.errors import BadRequestError
from connector.lifecycle.credentials import admin_credentials
from connector.resync.spec import ResyncSpec, check_shop, window_notes
from connector.store import jobs as job_store
from connector.store.db import Db, write_transaction
from connector.store.shops import get_shop, is_known_shop
from connector.targets.silence import silent_effect
from connector.timeutil import utc_now

RECONCILE = "reconcile"
RESYNC = "resync"


def check_shop_ready(db: Db, settings: Settings, shop: str) -> None:
    """The shop must be known and have Admin API credentials; BadRequestError says what's missing."""
    check_shop(shop)
    if not is_known_shop(db, shop):
        raise BadRequestError(f"unknown shop {shop}: it has not installed the app and is not configured under [shops]")
    admin_credentials(db, settings, shop)


def has_read_all_orders(db: Db, settings: Settings, shop: str) -> bool:
    row = get_shop(db, shop) or {}
    scopes = f"{row.get('scopes') or ''},{settings['shopify.scopes']}"
    return "read_all_orders" in {s.strip() for s in scopes.split(",")}


def create_resync_job(
    db: Db,
    settings: Settings,
    spec: ResyncSpec,
    owner: str,
    requested_by: str,
    extra_notes: tuple[str, ...] = (),
) -> str:
    check_shop_ready(db, settings, spec.shop)
    notes = window_notes(spec.since, utc_now(), has_read_all_orders(db, settings, spec.shop))
    if spec.silent:
        notes.append(silent_effect(_delivering_kind(db, settings, spec.shop)))
    notes += extra_notes
    return job_store.create_job(
        db, RESYNC, spec.shop, spec.params(), owner, settings["worker.lease_s"], notes, requested_by
    )


def _delivering_kind(db: Db, settings: Settings, shop: str) -> str | None:
    """The platform the shop's orders go to now (the account rule), None without an account."""
    account = load_profile(db, settings, shop).account
    return account.kind if account is not None else None


def create_reconcile_job(
    db: Db,
    settings: Settings,
    shop: str,
    window_s: float,
    owner: str,
    requested_by: str,
) -> str:
    """Orders updated in the last ``window_s`` seconds whose state the sync state lacks."""
    job_id = _create_reconcile_job(db, settings, shop, window_s, owner, requested_by, unless_open=False)
    if job_id is None:  # unreachable: only unless_open finds one open
        raise RuntimeError(f"no reconcile job created for {shop}")
    return job_id


def schedule_reconcile_job(
    db: Db,
    settings: Settings,
    shop: str,
    window_s: float,
    owner: str,
    requested_by: str,
) -> str | None:
    """The worker's schedule: as :func:`create_reconcile_job`, but None when the shop has an open
    reconcile job already: every worker process, on any host, runs the schedule, and one job is enough."""
    return _create_reconcile_job(db, settings, shop, window_s, owner, requested_by, unless_open=True)


def _create_reconcile_job(
    db: Db,
    settings: Settings,
    shop: str,
    window_s: float,
    owner: str,
    requested_by: str,
    unless_open: bool,
) -> str | None:
    check_shop_ready(db, settings, shop)  # outside the transaction: it may refresh a token
    now = utc_now()
    since = (now - timedelta(seconds=window_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params: dict[str, Any] = {"order_ids": [], "since": since, "until": None, "silent": False, "window_s": window_s}
    notes = window_notes(since, now, has_read_all_orders(db, settings, shop))
    with write_transaction(db):
        db.dialect.serialize(db, f"job:{RECONCILE}:{shop}")  # the check and the creation, as one
        if unless_open and job_store.open_job_for(db, shop, RECONCILE):
            return None
        return job_store.create_job(db, RECONCILE, shop, params, owner, settings["worker.lease_s"], notes, requested_by)


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """The public shape of a job (admin API and CLI)."""
    params = job["params"]
    return {
        "job_id": job["id"],
        "kind": job["kind"],
        "shop": job["shop"],
        "status": job["status"],
        "request": {k: v for k, v in params.items() if v not in (None, [], False) or k == "silent"},
        "progress": {
            "pages": job["pages"],
            "total": job["total"],
            "fetched": job["fetched"],
            "queued": job["queued"],
            "already_queued": job["duplicates"],
            "skipped_known": job["skipped"],
            "recovered": job["recovered"],
            "fulfillments": job["fulfillments"],
        },
        "notes": job["notes"],
        "error": job["error"],
        "running": job["lease_owner"] is not None,
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "updated_at": job["updated_at"],
        "finished_at": job["finished_at"],
    }
