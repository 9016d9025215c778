"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import sqlite3

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry

from connector.db import write_transaction
from connector.web.dbconn import request_db
from connector.web.metrics import StoreCollector, metrics_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the store takes a write: a read-only file or a full disk fail here too."""
    try:
        db = request_db()
        with write_transaction(db):
            db.execute(
                "INSERT INTO app_state (key, value) VALUES ('ready_probe', datetime('now')) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
    except sqlite3.Error as exc:
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
