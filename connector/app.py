"""``create_app()``: load settings, prepare the store, register blueprints. Nothing else.

gunicorn runs ``'connector.app:create_app()'`` in each worker process; the database connection
is opened lazily per thread, after the fork.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify

from connector.config import Settings, load_settings
from connector.logs import setup_logging
from connector.metrics import label_shops
from connector.store.db import STORE_ERRORS, connect_for
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
    app.json.sort_keys = False  # type: ignore[attr-defined]

    from connector.web import admin, app_home, auth, health, landing, merchant_api, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(app_home.bp)
    app.register_blueprint(merchant_api.bp)
    app.register_blueprint(landing.bp)

    @app.errorhandler(404)
    def not_found(_: Exception):  # type: ignore[no-untyped-def]
        return jsonify(error="not found"), 404

    @app.errorhandler(405)
    def method_not_allowed(_: Exception):  # type: ignore[no-untyped-def]
        return jsonify(error="method not allowed"), 405

    @app.errorhandler(413)
    def too_large(_: Exception):  # type: ignore[no-untyped-def]
        return jsonify(error="body too large"), 413

    return app


def prepare_store(settings: Settings) -> None:
    """Migrate and register configured shops, on a short-lived connection (never kept across a fork)."""
    db = connect_for(settings)
    try:
        migrate(db)
        sync_config_shops(db, settings.shops)
    finally:
        db.close()
