"""``create_app()``: load settings, prepare the store, register blueprints. Nothing else.

gunicorn runs ``'connector.app:create_app()'`` in each worker process; the database connection
is opened lazily per thread, after the fork.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider

from connector.config import Settings, load_settings
from connector.logs import setup_logging
from connector.metrics import label_shops
from connector.store.db import STORE_ERRORS, connect_for, is_postgres, location_of
from connector.store.migrations import migrate
from connector.store.shops import sync_config_shops


def create_app(test_config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the web app. ``test_config`` holds ``section.key`` overrides (tests, tools)."""
    settings = settings or load_settings(overrides=test_config)
    settings.require("shopify.api_secret")
    setup_logging(secrets=settings.secret_values())
    for line in settings.warnings:  # gunicorn started directly (the Procfile) shows them here
        logging.getLogger(__name__).warning("configuration: %s", line)
    label_shops(settings["metrics.shop_labels"])
    try:
        prepare_store(settings)
    except STORE_ERRORS as exc:
        # A database server that is down must not keep the web app from starting (a host
        # restarted during a database restart): webhooks answer 503 and /readyz fails until it
        # is back; the workers migrate when they start, and retry until they can.
        logging.getLogger(__name__).warning("store not ready at start (%s); webhooks answer 503 until it is", exc)

    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["WEBHOOK_SECRETS"] = tuple(
        s for s in (settings["shopify.api_secret"], settings["shopify.previous_api_secret"]) if s
    )
    app.config["MAX_CONTENT_LENGTH"] = settings["webhooks.max_body_bytes"]
    # PostgreSQL serves several hosts: a journal on one web host's disk would be out of the others' reach.
    app.config["INTAKE_JOURNAL"] = settings["webhooks.journal"] and not is_postgres(location_of(settings))
    app.json = KeepOrderJSON(app)

    from connector.web import admin, app_home, auth, health, landing, merchant_api, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(app_home.bp)
    app.register_blueprint(merchant_api.bp)
    app.register_blueprint(landing.bp)

    app.register_error_handler(404, not_found)
    app.register_error_handler(405, method_not_allowed)
    app.register_error_handler(413, too_large)
    return app


class KeepOrderJSON(DefaultJSONProvider):
    """JSON answers keep the order their fields are written in (the documented order)."""

    sort_keys = False


def not_found(_: Exception) -> tuple[Response, int]:
    return jsonify(error="not found"), 404


def method_not_allowed(_: Exception) -> tuple[Response, int]:
    return jsonify(error="method not allowed"), 405


def too_large(_: Exception) -> tuple[Response, int]:
    return jsonify(error="body too large"), 413


def prepare_store(settings: Settings) -> None:
    """Migrate and register configured shops, on a short-lived connection (never kept across a fork)."""
    db = connect_for(settings)
    try:
        migrate(db)
        sync_config_shops(db, settings.shops)
    finally:
        db.close()
