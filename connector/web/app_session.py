"""The merchant's session in the embedded app: a verified Shopify ID token, for pages and the API alike.

Both the page requests (``?id_token=`` in the query) and the JSON API (``Authorization: Bearer``)
come here, so both run the same checks and the same post-verification hook.
"""

from __future__ import annotations

import logging

from flask import current_app

from connector.errors import SessionTokenError
from connector.lifecycle.token_exchange import ensure_offline_access as exchange_if_needed
from connector.shopify.session_token import SessionToken, verify_session_token
from connector.web.dbconn import request_db

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
    """Token exchange for managed installation (:mod:`connector.lifecycle.token_exchange`).

    Runs on every verified page and API request, before any handler: one indexed read when the
    shop has its offline token. Where it has none (fresh managed install, reinstall, a refresh
    token that stopped working), the ID token is exchanged for one, stored, the webhooks are
    subscribed and held events released — once, however many tabs open the app at once.

    Raises :class:`SessionTokenError` when Shopify calls the ID token stale
    (``invalid_subject_token``): the page bounces for a fresh one, the API answers 401 with the
    retry header. Raises :class:`connector.errors.ShopifyApiError` when Shopify fails (503 when
    ``transient``, else 502).
    """
    exchange_if_needed(request_db(), current_app.config["SETTINGS"], session)
