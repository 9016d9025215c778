"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry

from connector.store.app_state import read_probe
from connector.store.db import STORE_ERRORS
from connector.web.dbconn import request_db
from connector.web.metrics import StoreCollector, metrics_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the store answers a read and its disk can take the next webhook.

    Cheap on purpose — probes come every few seconds from every load balancer: one read (no write
    lock, no WAL growth; intake itself proves the write path, and answers 503 when it fails) plus
    a look at the file system: read-only, or less free space than one largest webhook
    (``webhooks.max_body_bytes``), counts as not ready, since such webhooks would get 503.
    """
    settings = current_app.config["SETTINGS"]
    problem = (
        None
        if settings["database.url"]
        else _disk_problem(settings["database.path"], settings["webhooks.max_body_bytes"])
    )
    if problem:
        return jsonify(status="unavailable", error=f"database: {problem}"), 503
    try:
        read_probe(request_db())
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


def _disk_problem(path: str, needed_bytes: int) -> str | None:
    """Why the database's file system cannot take a webhook now, or None (also when unknown)."""
    if path == ":memory:" or path.startswith("file:"):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    if (
        stat.f_flag & os.ST_RDONLY
        or not os.access(folder, os.W_OK)
        or (os.path.exists(path) and not os.access(path, os.W_OK))
    ):
        return "the file system or database file is read-only"
    free = stat.f_bavail * stat.f_frsize
    if free < needed_bytes:
        return f"disk nearly full ({free} bytes free)"
    return None
