"""``POST /webhooks/shopify``: verify → record → answer. Nothing else happens here.

The receiver never maps or delivers (the worker does), so Shopify gets its answer in
milliseconds. Answers: 200 once stored (duplicates too), 401 bad/missing HMAC (nothing stored),
400 missing headers, 405 non-POST (Flask), 413 too large, 503 only when storing failed —
Shopify retries non-2xx, which is exactly what we want then, and never otherwise.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from connector.lifecycle.webhook_secrets import own_app_secrets
from connector.shopify.headers import MissingHeaderError, header, parse_webhook_headers
from connector.shopify.verify import verify_webhook_hmac
from connector.store.db import STORE_ERRORS, location_of
from connector.store.events import NewEvent
from connector.store.intake import save_webhook_event
from connector.store.journal import journal_for
from connector.web.dbconn import request_db
from connector.web.metrics import WEBHOOKS

bp = Blueprint("webhooks", __name__)
# Bound once: labels() takes a lock and a dict look-up on every call.
STORED = WEBHOOKS.labels(outcome="stored", reason="")
DUPLICATE = WEBHOOKS.labels(outcome="duplicate", reason="")
log = logging.getLogger(__name__)
# The store's, and the journal file's (a full disk, a folder that cannot be written).
INTAKE_ERRORS: tuple[type[BaseException], ...] = (*STORE_ERRORS, OSError)


def _refuse(status: int, reason: str, metric: str) -> tuple[Response, int]:
    WEBHOOKS.labels(outcome="rejected", reason=metric).inc()
    return jsonify(error=reason), status


def _read_body(limit: int) -> bytes:
    """The raw body; RequestEntityTooLarge past ``limit`` (``MAX_CONTENT_LENGTH``), chunked or not.

    Werkzeug stops a body without Content-Length (chunked) at the limit *silently*: what it
    returns is a truncated body, which would then fail the HMAC check (401) instead of 413.
    """
    body = request.get_data(cache=False)
    if len(body) >= limit and request.content_length is None and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return body


# A journaled webhook has no event id yet, and whether it repeats one is known once it is filed.
JOURNALED = b'{"stored":true,"journaled":true}'


def _stored(event_id: int | None, duplicate: bool) -> Response:
    """``{"stored": true, "duplicate": …, "event": …}``, built directly: jsonify cost ~50 µs of a ~0.5 ms webhook."""
    body = b'{"stored":true,"duplicate":%s,"event":%s}' % (
        b"true" if duplicate else b"false",
        b"null" if event_id is None else b"%d" % event_id,
    )
    return Response(body, content_type="application/json")


@bp.post("/webhooks/shopify")
def receive_webhook() -> Response | tuple[Response, int]:
    config, environ = current_app.config, request.environ  # each proxy look-up costs; once here
    try:
        body = _read_body(config["MAX_CONTENT_LENGTH"])
    except RequestEntityTooLarge:
        return _refuse(413, "body too large", "too_large")
    # Verify the raw bytes before anything else looks at the body or trusts a header.
    signature = header(environ, "Hmac-Sha256")
    if not verify_webhook_hmac(body, signature, config["WEBHOOK_SECRETS"]):
        try:
            own = own_app_secrets(request_db(), config["SETTINGS"], header(environ, "Shop-Domain"))
        except STORE_ERRORS:
            return _refuse(503, "could not check the signature; please retry", "storage")
        if not (own and verify_webhook_hmac(body, signature, own)):
            return _refuse(401, "invalid or missing HMAC signature", "hmac")
    try:
        headers = parse_webhook_headers(environ)
    except MissingHeaderError as exc:
        return _refuse(400, str(exc), "headers")
    if not body:
        return _refuse(400, "empty body", "empty")
    event = NewEvent(
        shop=headers.shop,
        topic=headers.topic,
        dedupe_key=headers.dedupe_key,
        body=body,
        webhook_id=headers.webhook_id,
        event_id=headers.event_id,
        api_version=headers.api_version,
        triggered_at=headers.triggered_at,
        test=headers.test,
    )
    try:
        if config["INTAKE_JOURNAL"]:
            journal_for(location_of(config["SETTINGS"])).append(event)
            STORED.inc()
            return Response(JOURNALED, content_type="application/json")
        event_id, duplicate = save_webhook_event(request_db(), location_of(config["SETTINGS"]), event)
    except INTAKE_ERRORS as exc:
        log.error(
            "could not store webhook: %s",
            exc,
            extra={"shop": headers.shop, "topic": headers.topic, "webhook_id": headers.webhook_id},
        )
        WEBHOOKS.labels(outcome="rejected", reason="storage").inc()
        response = jsonify(error="could not store the event; please retry")
        response.headers["Retry-After"] = "5"
        return response, 503
    (DUPLICATE if duplicate else STORED).inc()
    return _stored(event_id, duplicate)
