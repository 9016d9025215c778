"""The baseline for ``bench/ingest.py``: a bare Flask endpoint that only verifies the HMAC.

Same route, same body handling (raw bytes, ``cache=False``), same size limit and the same
:func:`connector.shopify.verify.verify_webhook_hmac` as the connector, then a small JSON 200.
No header parsing, no storage. Run under gunicorn exactly like the connector::

    gunicorn 'bench.bare_app:create_app()'

Reads ``CONNECTOR_SHOPIFY_API_SECRET`` (and ``CONNECTOR_SHOPIFY_PREVIOUS_API_SECRET``).
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, request

from connector.shopify.headers import header
from connector.shopify.verify import verify_webhook_hmac


def create_app() -> Flask:
    secrets = tuple(
        s
        for s in (
            os.environ.get("CONNECTOR_SHOPIFY_API_SECRET", ""),
            os.environ.get("CONNECTOR_SHOPIFY_PREVIOUS_API_SECRET", ""),
        )
        if s
    )
    if not secrets:
        raise RuntimeError("CONNECTOR_SHOPIFY_API_SECRET is required")

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024  # the connector's default

    @app.post("/webhooks/shopify")
    def receive_webhook() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        if not verify_webhook_hmac(body, header(request.environ, "Hmac-Sha256"), secrets):
            return jsonify(error="invalid or missing HMAC signature"), 401
        return jsonify(stored=False, duplicate=False, event=None), 200

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    return app
