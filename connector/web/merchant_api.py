"""The merchant's JSON API under ``/app/api``: every request carries the Shopify ID token.

App Bridge adds ``Authorization: Bearer <ID token>`` to the page's same-origin ``fetch``. The
guard below verifies it before any handler runs and puts the verified shop on ``flask.g.shop``
(the only shop a handler may read or change: never one from the query or body). A missing,
forged, expired or foreign token gets 401 with ``X-Shopify-Retry-Invalid-Session-Request: 1``,
on which App Bridge fetches a fresh token and retries the request once
(https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens).

Endpoints are added as routes on ``bp``, or as blueprints registered on it
(``bp.register_blueprint(child)``): Flask runs a parent blueprint's ``before_request`` for its
children too, so every one of them is behind the guard.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, request

from connector.errors import SessionTokenError, ShopifyApiError
from connector.shopify.session_token import bearer_token
from connector.web import merchant_jobs, merchant_orders, merchant_settings
from connector.web.app_session import ensure_offline_access, verified_session

bp = Blueprint("merchant_api", __name__, url_prefix="/app/api")
log = logging.getLogger(__name__)

RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def invalid_session() -> tuple[Response, int]:
    """401 that says nothing about why (the reason is in our log), and asks App Bridge to retry."""
    response = jsonify(error="unauthorized")
    response.headers[RETRY_HEADER] = "1"
    response.headers["WWW-Authenticate"] = 'Bearer realm="shopify-app"'
    return response, 401


@bp.before_request
def require_id_token() -> tuple[Response, int] | None:
    session = verified_session(bearer_token(request.headers.get("Authorization")))
    if session is None:
        return invalid_session()
    try:
        ensure_offline_access(session)
    except SessionTokenError as exc:
        log.info("ID token not exchangeable: %s", exc, extra={"shop": session.shop})
        return invalid_session()
    except ShopifyApiError as exc:
        log.warning("no offline token for the shop: %s", exc.reason, extra={"shop": session.shop})
        status = 503 if exc.transient else 502
        return jsonify(error="Shopify did not answer in time; please try again in a moment."), status
    g.shop = session.shop
    g.session_token = session
    return None


@bp.after_request
def never_cached(response: Response) -> Response:
    # A shop's data must not sit in a shared cache or the browser's back/forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/session")
def session() -> Response:
    """Whose session this is: the page shows it, and it proves the token reached the backend."""
    return jsonify(shop=g.shop)


# The endpoints, each area its own blueprint behind the guard above (Flask runs a parent's
# before_request for its children).
for _child in (merchant_settings.bp, merchant_orders.bp, merchant_jobs.bp):
    bp.register_blueprint(_child)
