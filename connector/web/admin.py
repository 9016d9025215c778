"""The operator API under ``/admin``: bearer token, JSON in and out.

Closed (401 for everything) when ``admin.token`` is empty; the token is compared in constant
time.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connector.store import failures as failure_store
from connector.store import orders as order_store
from connector.store.events import list_events
from connector.store.failures import list_attempts
from connector.web.dbconn import request_db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    expected = current_app.config["SETTINGS"]["admin.token"]
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    ok = bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )
    if not ok:
        response = jsonify(error="missing or invalid admin token" if expected else "admin API is closed: set admin.token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector-admin"'
        return response, 401
    return None


def _bad_request(message: str) -> tuple[Response, int]:
    return jsonify(error=message), 400


def _int_arg(name: str, default: int, maximum: int = 1000) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


@bp.get("/orders")
def orders() -> tuple[Response, int]:
    try:
        limit = _int_arg("limit", 100)
    except ValueError as exc:
        return _bad_request(str(exc))
    status = request.args.get("status")
    if status and status not in ("pending", "synced", "retrying", "dead"):
        return _bad_request("status must be one of pending, synced, retrying, dead")
    rows = order_store.list_orders(request_db(), request.args.get("shop"), status, limit)
    return jsonify(orders=rows), 200


@bp.get("/orders/<shop>/<order_id>")
def order_detail(shop: str, order_id: str) -> tuple[Response, int]:
    db = request_db()
    row = order_store.get_order(db, shop, order_id)
    if row is None:
        return jsonify(error=f"no sync state for order {order_id} of {shop}"), 404
    detail: dict[str, Any] = {
        "shop": shop, "order_id": order_id, "status": row["status"], "remote_id": row["remote_id"],
        "attempts": row["attempts"], "last_error": row["last_error"], "last_synced_at": row["last_synced_at"],
        "shopify_updated_at": row["delivered_updated_at"], "newest_known_updated_at": row["newest_updated_at"],
        "next_attempt_at": row["next_attempt_at"] if row["has_work"] else None,
        "deleted_at": row["deleted_at"],
        "events": list(list_events(db, shop, order_id)),
        "recent_attempts": list_attempts(db, shop, order_id),
    }
    return jsonify(detail), 200


@bp.get("/failures")
def failures() -> tuple[Response, int]:
    try:
        limit = _int_arg("limit", 100)
    except ValueError as exc:
        return _bad_request(str(exc))
    rows = failure_store.list_failures(request_db(), request.args.get("shop"), limit=limit)
    return jsonify(failures=rows), 200


@bp.post("/failures/<int:failure_id>/replay")
def replay_one(failure_id: int) -> tuple[Response, int]:
    failure = failure_store.replay_failure(request_db(), failure_id)
    if failure is None:
        return jsonify(error=f"no open failure {failure_id}"), 404
    return jsonify(replayed=1, shop=failure["shop"], order_id=failure["order_id"]), 200


@bp.post("/replay")
def replay_shop() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("shop"), str) or not body["shop"]:
        return _bad_request('expected a JSON body {"shop": "<shop>.myshopify.com"}')
    count = failure_store.replay_shop(request_db(), body["shop"])
    return jsonify(replayed=count, shop=body["shop"]), 200
