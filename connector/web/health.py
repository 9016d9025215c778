"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry

from connector.store.app_state import record_ready_probe
from connector.store.db import STORE_ERRORS, write_transaction
from connector.web.dbconn import request_db
from connector.web.metrics import StoreCollector, metrics_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the store takes a write: a read-only file or a full disk fail here too.

    A nearly full disk still takes the probe's tiny write (SQLite reuses free pages) while real
    webhooks already fail with 503, so less free space than one largest webhook
    (``webhooks.max_body_bytes``) counts as not ready as well.
    """
    settings = current_app.config["SETTINGS"]
    free = None if settings["database.url"] else _free_bytes(settings["database.path"])
    if free is not None and free < settings["webhooks.max_body_bytes"]:
        return jsonify(status="unavailable", error=f"database: disk nearly full ({free} bytes free)"), 503
    try:
        db = request_db()
        with write_transaction(db):
            record_ready_probe(db)
    except STORE_ERRORS as exc:
        return jsonify(status="unavailable", error=f"database: {exc}"), 503
    return jsonify(status="ready"), 200


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions.get("connector_metrics_registry")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(StoreCollector(request_db))
        current_app.extensions["connector_metrics_registry"] = registry
    return metrics_response(registry)


def _free_bytes(path: str) -> int | None:
    """Bytes available to us on the database's filesystem; None when it cannot be known."""
    if path == ":memory:" or path.startswith("file:"):
        return None
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize
