"""``/app/api`` for the shop's orders: overview, the order list, one order, retry.

Every query names ``g.shop`` — the verified token's shop — and nothing else; an order id of
another shop is simply not found (404).
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, current_app, g, jsonify, request

from connector.accounts.profile import ShopProfile
from connector.accounts.stored import load_profile
from connector.models import SyncStatus
from connector.store import events as event_store
from connector.store import failures as failure_store
from connector.store import orders as order_store
from connector.store import shop_orders
from connector.store.db import write_transaction
from connector.store.dry_run import list_dry_runs
from connector.targets.base import ShopContext
from connector.targets.dry_run import wire_payload
from connector.targets.registry import build_vendor_target
from connector.timeutil import now_db, to_db_time
from connector.web.dbconn import request_db

bp = Blueprint("orders", __name__)
log = logging.getLogger(__name__)
MAX_LIMIT = 200
# The merchant's words for the store's states (the page shows these).
SHOWN: dict[str, str] = {SyncStatus.PENDING: "waiting", SyncStatus.DEAD: "failed"}
FILTERS = ("synced", "waiting", "retrying", "failed", "held", "skipped")
ALIASES = {"pending": "waiting", "dead": "failed"}


def _profile() -> ShopProfile:
    return load_profile(request_db(), current_app.config["SETTINGS"], g.shop)


def shown_status(status: str, blocked: bool) -> str:
    """What the merchant sees: waiting/retrying orders of a shop that cannot deliver are held."""
    if blocked and status in (SyncStatus.PENDING, SyncStatus.RETRYING):
        return "held"
    return SHOWN.get(status, status)


def _store_statuses(shown: str, blocked: bool) -> tuple[str, ...]:
    if shown == "held":
        return (SyncStatus.HELD, SyncStatus.PENDING, SyncStatus.RETRYING) if blocked else (SyncStatus.HELD,)
    if blocked and shown in ("waiting", "retrying"):
        return ("-",)  # shown as held: none of them is waiting or retrying now
    return {"waiting": (SyncStatus.PENDING,), "failed": (SyncStatus.DEAD,)}.get(shown, (shown,))


def _bad(field: str, message: str) -> tuple[Response, int]:
    return jsonify(errors={field: message}), 400


@bp.get("/overview")
def overview() -> Response | tuple[Response, int]:
    zone = _zone()
    if zone is None:
        return _bad("tz", "an IANA time zone such as Europe/Prague")
    db, profile = request_db(), _profile()
    blocked = profile.blocked_reason(now_db())
    counts: dict[str, int] = dict.fromkeys(FILTERS, 0)
    for status, n in shop_orders.count_shop_orders(db, g.shop).items():
        counts[shown_status(status, bool(blocked))] = counts.get(shown_status(status, bool(blocked)), 0) + n
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    last = shop_orders.last_delivered_order(db, g.shop)
    oldest = shop_orders.oldest_waiting_event(db, g.shop)
    check = profile.check
    return jsonify(
        {
            "connected": profile.account is not None,
            "managed_by": profile.managed_by,
            "paused": profile.options.paused and profile.managed_by == "merchant",
            "blocked": blocked,
            "credentials_ok": check.ok if check else None,
            "account_error": check.message if check and not check.ok else None,
            "counts": counts,
            "synced_today": shop_orders.count_synced_since(db, g.shop, to_db_time(today)),
            "synced_week": shop_orders.count_synced_since(db, g.shop, to_db_time(week)),
            "last_delivery": {"at": last["last_synced_at"], "order_id": last["order_id"], "name": last["name"]}
            if last
            else None,
            "oldest_waiting": {"at": oldest} if oldest else None,
            "deliveries_failing": bool(counts["failed"] or counts["retrying"]),
        }
    )


def _zone() -> ZoneInfo | None:
    try:
        return ZoneInfo(request.args.get("tz") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None


@bp.get("/orders")
def orders() -> Response | tuple[Response, int]:
    shown = ALIASES.get(request.args.get("status") or "", request.args.get("status") or "")
    if shown and shown not in FILTERS:
        return _bad("status", f"one of {', '.join(FILTERS)}")
    limit = request.args.get("limit", "50")
    if not limit.isdigit() or not 0 < int(limit) <= MAX_LIMIT:
        return _bad("limit", f"a whole number from 1 to {MAX_LIMIT}")
    after = _cursor(request.args.get("cursor"))
    if after is False:
        return _bad("cursor", "not a cursor this list gave out; start again from the first page")
    db, profile = request_db(), _profile()
    blocked = bool(profile.blocked_reason(now_db()))
    q = (request.args.get("q") or "").strip()[:255]
    if q:
        rows, more = shop_orders.find_shop_orders(db, g.shop, q, _number_in(q), int(limit)), False
    else:
        statuses = _store_statuses(shown, blocked) if shown else ()
        rows = shop_orders.list_shop_orders(db, g.shop, statuses, after or None, int(limit) + 1)
        more, rows = len(rows) > int(limit), rows[: int(limit)]
    return jsonify(
        orders=[_row_view(row, blocked) for row in rows],
        next_cursor=_encode_cursor(rows[-1]) if more else None,
    )


def _number_in(q: str) -> str | None:
    """The number in what the merchant typed: ``#1001`` → 1001, ``EU-1001`` → 1001."""
    digits = ""
    for char in reversed(q):
        if not char.isdigit():
            break
        digits = char + digits
    return digits or None


def _row_view(row: dict[str, Any], blocked: bool) -> dict[str, Any]:
    return {
        "order_id": row["order_id"],
        "name": row["name"] or f"#{row['order_number'] or row['order_id']}",
        "status": shown_status(row["status"], blocked),
        "placed_at": row["placed_at"],
        "updated_at": row["newest_updated_at"],
        "last_synced_at": row["last_synced_at"],
        "last_error": row["last_error"],
        "attempts": row["attempts"],
    }


def _encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["placed_at"], row["order_id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str | None) -> tuple[str, str] | Literal[False] | None:
    """The (placed_at, order_id) a page ends with; None for the first page, False for junk."""
    if not text:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        return False
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and len(v) <= 64 for v in value):
        return value[0], value[1]
    return False


@bp.get("/orders/<order_id>")
def order_detail(order_id: str) -> tuple[Response, int]:
    db, profile = request_db(), _profile()
    row = order_store.get_order(db, g.shop, order_id)
    if row is None:
        return jsonify(error="There is no such order in this store."), 404
    blocked = bool(profile.blocked_reason(now_db()))
    detail = {
        **_row_view(row, blocked),
        "number": row["order_number"],
        "remote_id": row["remote_id"],
        "events": [
            {"topic": e["topic"], "status": e["state"], "reason": e["reason"], "received_at": e["received_at"]}
            for e in event_store.list_events(db, g.shop, order_id)
        ],
        "attempts": [
            {
                "at": a["started_at"],
                "what": a["what"],
                "outcome": a["outcome"],
                "http_status": a["status_code"],
                "error": a["error"],
            }
            for a in failure_store.list_attempts(db, g.shop, order_id)
        ],
        "payload": _what_was_sent(db, profile, row),
    }
    return jsonify(detail), 200


def _what_was_sent(db: Any, profile: ShopProfile, row: dict[str, Any]) -> Any:
    """The delivered state of the order as its account receives it (never a credential)."""
    account = profile.account
    if account is None or not row["delivered_event_id"]:
        return None
    if account.kind == "dry-run":
        recorded = list_dry_runs(db, g.shop, row["order_id"], limit=1)
        return recorded[0]["payload"] if recorded else None
    if account.kind not in ("foxdeli", "parcellab"):
        return None
    body = event_store.fetch_event_body(db, row["delivered_event_id"], g.shop)
    target = build_vendor_target(account.kind)
    try:
        order = json.loads(body) if body else None
        ctx = ShopContext(g.shop, target.settings_for(account.settings))
        return wire_payload(target.map_order(order, ctx)) if isinstance(order, dict) else None
    except Exception:  # a preview must never break the page
        log.info("payload preview failed", exc_info=True, extra={"shop": g.shop, "order_id": row["order_id"]})
        return None
    finally:
        target.close()


@bp.post("/orders/<order_id>/retry")
def retry_order(order_id: str) -> tuple[Response, int]:
    db = request_db()
    row = order_store.get_order(db, g.shop, order_id)
    if row is None:
        return jsonify(error="There is no such order in this store."), 404
    with write_transaction(db):
        retried = failure_store.replay_order(db, g.shop, order_id) or shop_orders.retry_now(db, g.shop, order_id) > 0
    if not retried:
        shown = shown_status(row["status"], False)
        return jsonify(error=f"{row['name'] or 'This order'} is {shown}: there is nothing to retry."), 409
    log.info("merchant retried an order", extra={"shop": g.shop, "order_id": order_id})
    return jsonify(retried=1, order_id=order_id), 200


@bp.post("/retry")
def retry_all() -> tuple[Response, int]:
    db = request_db()
    with write_transaction(db):
        replayed = failure_store.replay_shop(db, g.shop)
        due = shop_orders.retry_now(db, g.shop)
    log.info("merchant retried %d failed and %d retrying orders", replayed, due, extra={"shop": g.shop})
    return jsonify(retried=replayed + due, failed=replayed, retrying=due), 200
