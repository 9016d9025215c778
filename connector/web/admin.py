"""The operator API under ``/admin``: bearer token, JSON in and out.

Closed (401 for everything) when ``admin.token`` is empty; the token is compared in constant
time.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connector.errors import BadRequestError
from connector.models import SyncStatus
from connector.resync.jobs import create_reconcile_job, create_resync_job, job_view
from connector.resync.runner import runner_name, start_job_thread
from connector.resync.spec import check_shop, parse_duration, parse_resync_request
from connector.shopify.ids import is_ascii_digits, shopify_id
from connector.store import failures as failure_store
from connector.store import jobs as job_store
from connector.store import orders as order_store
from connector.store.db import write_transaction
from connector.store.events import list_events
from connector.store.failures import list_attempts
from connector.timeutil import utc_now
from connector.web.dbconn import request_db

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_ROW_ID = 2**63 - 1


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    expected = current_app.config["SETTINGS"]["admin.token"]
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    ok = (
        bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())
    )
    if not ok:
        response = jsonify(
            error="missing or invalid admin token" if expected else "admin API is closed: set admin.token"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector-admin"'
        return response, 401
    return None


def _bad_request(message: str) -> tuple[Response, int]:
    return jsonify(error=message), 400


@bp.errorhandler(BadRequestError)
def bad_request(exc: BadRequestError) -> tuple[Response, int]:
    return _bad_request(str(exc))


def _json_body() -> Any:
    """The request body as JSON whatever the Content-Type says; BadRequestError otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequestError("expected a JSON body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}"[:200]) from None
    except RecursionError:
        raise BadRequestError("body is not valid JSON: nested too deeply") from None


def _start(job_id: str, owner: str) -> tuple[Response, int]:
    """Run the job in a background thread of this process; the worker resumes it if we die.

    The answer carries the job's notes (what Shopify will not return, what "silent" does at the
    shop's platform): read before anything is sent, not after."""
    job = job_store.get_job(request_db(), job_id) or {}
    start_job_thread(current_app.config["SETTINGS"], job_id, owner)
    response = jsonify(job_id=job_id, status_url=f"/admin/jobs/{job_id}", notes=job.get("notes", []))
    response.headers["Location"] = f"/admin/jobs/{job_id}"
    return response, 202


@bp.post("/resync")
def resync() -> tuple[Response, int]:
    spec = parse_resync_request(_json_body(), utc_now())
    owner = runner_name("web")
    job_id = create_resync_job(request_db(), current_app.config["SETTINGS"], spec, owner, "admin-api")
    return _start(job_id, owner)


@bp.post("/reconcile")
def reconcile() -> tuple[Response, int]:
    body = _json_body()
    if not isinstance(body, dict):
        raise BadRequestError('expected a JSON object like {"shop": "name.myshopify.com", "window": "72h"}')
    shop = check_shop(body.get("shop"))
    settings = current_app.config["SETTINGS"]
    window = body.get("window")
    window_s = parse_duration(str(window)) if window is not None else settings["worker.reconcile_window_s"]
    owner = runner_name("web")
    job_id = create_reconcile_job(request_db(), settings, shop, window_s, owner, "admin-api")
    return _start(job_id, owner)


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str) -> tuple[Response, int]:
    job = job_store.get_job(request_db(), job_id)
    if job is None:
        return jsonify(error=f"no job {job_id}"), 404
    return jsonify(job_view(job)), 200


@bp.get("/jobs")
def jobs() -> tuple[Response, int]:
    limit = _int_arg("limit", 50)
    kind = request.args.get("kind")
    if kind and kind not in ("resync", "reconcile"):
        raise BadRequestError("kind must be resync or reconcile")
    rows = job_store.list_jobs(request_db(), _shop_arg(), kind, limit)
    return jsonify(jobs=[job_view(j) for j in rows]), 200


def _int_arg(name: str, default: int, maximum: int = 1000) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # ASCII digits only: "²".isdigit() is true and int("²") raises; int("١٢٣") is 123.
    if not is_ascii_digits(raw) or len(raw) > 9 or not 0 < int(raw) <= maximum:
        raise BadRequestError(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


def _shop_arg() -> str | None:
    shop = request.args.get("shop")
    return check_shop(shop) if shop is not None else None


@bp.get("/orders")
def orders() -> tuple[Response, int]:
    limit = _int_arg("limit", 100)
    status = request.args.get("status")
    if status and status not in tuple(SyncStatus):
        return _bad_request(f"status must be one of {', '.join(SyncStatus)}")
    rows = order_store.list_orders(request_db(), _shop_arg(), status, limit)
    return jsonify(orders=rows), 200


@bp.get("/orders/<shop>/<order_id>")
def order_detail(shop: str, order_id: str) -> tuple[Response, int]:
    check_shop(shop)
    if shopify_id(order_id) is None:
        raise BadRequestError(f"order id must be a Shopify order id (ASCII digits), got {order_id[:40]!r}")
    db = request_db()
    row = order_store.get_order(db, shop, order_id)
    if row is None:
        return jsonify(error=f"no sync state for order {order_id} of {shop}"), 404
    detail: dict[str, Any] = {
        "shop": shop,
        "order_id": order_id,
        "status": row["status"],
        "remote_id": row["remote_id"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "last_synced_at": row["last_synced_at"],
        "shopify_updated_at": row["delivered_updated_at"],
        "newest_known_updated_at": row["newest_updated_at"],
        "next_attempt_at": row["next_attempt_at"] if row["has_work"] else None,
        "deleted_at": row["deleted_at"],
        "events": list(list_events(db, shop, order_id)),
        "recent_attempts": list_attempts(db, shop, order_id),
    }
    return jsonify(detail), 200


@bp.get("/failures")
def failures() -> tuple[Response, int]:
    limit = _int_arg("limit", 100)
    closed = request.args.get("all", "0")
    if closed not in ("0", "1"):
        raise BadRequestError("all must be 0 or 1")
    rows = failure_store.list_failures(request_db(), _shop_arg(), include_replayed=closed == "1", limit=limit)
    return jsonify(failures=rows), 200


@bp.post("/failures/<int:failure_id>/replay")
def replay_one(failure_id: int) -> tuple[Response, int]:
    if failure_id > MAX_ROW_ID:  # SQLite's rowids are signed 64-bit: a bigger one is an OverflowError
        raise BadRequestError(f"failure id must be at most {MAX_ROW_ID}")
    db = request_db()
    with write_transaction(db):
        failure = failure_store.replay_failure(db, failure_id)
    if failure is None:
        return jsonify(error=f"no open failure {failure_id}"), 404
    return jsonify(replayed=1, shop=failure["shop"], order_id=failure["order_id"]), 200


@bp.post("/replay")
def replay_shop() -> tuple[Response, int]:
    body = _json_body()
    if not isinstance(body, dict):
        raise BadRequestError('expected a JSON body {"shop": "<shop>.myshopify.com"}')
    check_shop(body.get("shop"))
    db = request_db()
    with write_transaction(db):
        count = failure_store.replay_shop(db, body["shop"])
    return jsonify(replayed=count, shop=body["shop"]), 200
