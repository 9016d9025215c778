"""The merchant's session in the embedded app: a verified Shopify ID token, for pages and the API alike.

Both the page requests (``?id_token=`` in the query) and the JSON API (``Authorization: Bearer``)
come here, so both run the same checks and the same post-verification hook.
"""

from __future__ import annotations

import logging

from flask import current_app

from connector.errors import SessionTokenError
from connector.shopify.session_token import SessionToken, verify_session_token

log = logging.getLogger(__name__)


def verified_session(token: str | None) -> SessionToken | None:
    """The verified session of ``token``, or None (the reason is logged, never the token)."""
    if not token:
        return None
    settings = current_app.config["SETTINGS"]
    secrets = (settings["shopify.api_secret"], settings["shopify.previous_api_secret"])
    try:
        return verify_session_token(token, settings["shopify.api_key"], secrets)
    except SessionTokenError as exc:
        log.info("ID token refused: %s", exc)
        return None


def ensure_offline_access(session: SessionToken) -> None:
    """HOOK — token exchange for managed installation (issue 13, implemented in ``connector.lifecycle``).

    Runs on every verified page and API request, before any handler, with the verified session
    (``session.shop``; ``session.token`` is the raw ID token Shopify's token exchange takes as
    ``subject_token``). Where the shop has no usable offline token (fresh managed install,
    reinstall, a refresh that failed), exchange the ID token for one, store it, subscribe the
    webhooks and release held events — idempotently, and cheaply when nothing is to be done.

    Raise :class:`SessionTokenError` when Shopify calls the ID token stale
    (``invalid_subject_token``): the page bounces for a fresh one, the API answers 401 with the
    retry header. Raise :class:`connector.errors.ShopifyApiError` when Shopify fails (503 when
    ``transient``, else 502).
    """
    return None
