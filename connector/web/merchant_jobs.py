"""``/app/api/import`` and ``/app/api/jobs/<id>``: the merchant sends past orders, and follows it.

An import is a re-sync job over the last N days through the webhook pipeline (so it can never
duplicate an order or move one backwards), silent where the platform allows it. Shopify returns
only the last 60 days of orders without ``read_all_orders``
(https://shopify.dev/docs/api/usage/access-scopes#orders-permissions), so the window is capped
there unless the shop granted that scope.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response, current_app, g, jsonify

from connector.errors import BadRequestError
from connector.resync.jobs import RESYNC, create_resync_job, has_read_all_orders, job_view
from connector.resync.runner import runner_name, start_job_thread
from connector.resync.spec import ORDER_WINDOW_DAYS, ResyncSpec
from connector.store import jobs as job_store
from connector.timeutil import utc_now
from connector.web.dbconn import request_db
from connector.web.merchant_settings import request_json

bp = Blueprint("jobs", __name__)
log = logging.getLogger(__name__)
MAX_DAYS_WITH_ALL_ORDERS = 3650
REQUESTED_BY = "merchant"
NO_ACCESS = (
    "The connector cannot read this store's orders yet. Open the app again from your Shopify admin; "
    "if this stays, ask the connector's operator."
)


def _started(job_id: str) -> tuple[Response, int]:
    """202 with the job's notes: what the import will (and will not) do, before it sends anything."""
    job = job_store.get_shop_job(request_db(), g.shop, job_id) or {}
    response = jsonify(job_id=job_id, status_url=f"/app/api/jobs/{job_id}", notes=job.get("notes", []))
    response.headers["Location"] = f"/app/api/jobs/{job_id}"
    return response, 202


@bp.post("/import")
def start_import() -> tuple[Response, int]:
    body, bad = request_json()
    if bad:
        return bad
    db, settings = request_db(), current_app.config["SETTINGS"]
    limit = MAX_DAYS_WITH_ALL_ORDERS if has_read_all_orders(db, settings, g.shop) else ORDER_WINDOW_DAYS
    days = body.get("days") if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit:
        hint = (
            "" if limit > ORDER_WINDOW_DAYS else " (Shopify shares older orders only with apps granted read_all_orders)"
        )
        return jsonify(errors={"days": f"a whole number of days from 1 to {limit}{hint}"}), 400
    running = job_store.open_job_for(db, g.shop, RESYNC, REQUESTED_BY)
    if running:  # a second click, or a second tab: the same import
        return _started(running)
    since = (utc_now() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner = runner_name("web")
    spec = ResyncSpec(shop=g.shop, since=since, silent=True)
    try:
        # The job's notes say what "silent" means at the shop's platform (connector.targets.silence).
        job_id = create_resync_job(db, settings, spec, owner, REQUESTED_BY)
    except BadRequestError as exc:
        log.warning("import not started: %s", exc, extra={"shop": g.shop})
        return jsonify(error=NO_ACCESS), 409
    start_job_thread(settings, job_id, owner)
    log.info("merchant import of the last %d days started", days, extra={"shop": g.shop, "job": job_id})
    return _started(job_id)


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> tuple[Response, int]:
    found = job_store.get_shop_job(request_db(), g.shop, job_id)
    if found is None:
        return jsonify(error="There is no such job for this store."), 404
    return jsonify(job_view(found)), 200
