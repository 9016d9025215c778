"""``GET /auth/install`` and ``GET /auth/callback``: Shopify OAuth install, nothing else.

All checks and effects live in :mod:`connector.lifecycle`; this module turns its outcome into
HTTP. A refused request never redirects (so a bad ``shop`` can never send a browser elsewhere).
"""

from __future__ import annotations

import logging
from html import escape

from flask import Blueprint, Response, current_app, redirect, request
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from connector.errors import ConnectorError, OAuthError, ShopifyApiError
from connector.lifecycle.install import begin_install, finish_install
from connector.web.dbconn import request_db

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger(__name__)


def _page(status: int, title: str, text: str) -> tuple[Response, int]:
    body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p>\n"
    return Response(body, mimetype="text/html"), status


def _params() -> dict[str, str]:
    # Every query parameter takes part in the HMAC; a repeated one keeps its first value.
    return {key: request.args.get(key, "") for key in request.args.keys()}


@bp.get("/install")
def install() -> BaseResponse | tuple[Response, int]:
    try:
        url = begin_install(request_db(), current_app.config["SETTINGS"], _params())
    except OAuthError as exc:
        log.warning("install refused: %s", exc.reason)
        return _page(exc.status, "Install refused", exc.reason)
    except ConnectorError as exc:
        return _page(503, "Install not possible", str(exc))
    return redirect(url, code=302)


@bp.get("/callback")
def callback() -> tuple[Response, int]:
    try:
        result = finish_install(request_db(), current_app.config["SETTINGS"], _params())
    except OAuthError as exc:
        log.warning("install callback refused: %s", exc.reason)
        return _page(exc.status, "Install refused", exc.reason)
    except ShopifyApiError as exc:
        # exc.detail is Shopify's answer (scrubbed): for the operator's log, never for the page.
        log.error("token exchange failed: %s%s", exc.reason, f" — {exc.detail}" if exc.detail else "")
        return _page(502, "Install failed", f"Shopify did not issue a token ({exc.reason}); please try again.")
    except ConnectorError as exc:
        return _page(503, "Install not possible", str(exc))
    if result.subscription_error:
        return _page(
            502,
            "Installed, but webhooks are missing",
            f"The app is installed on {result.shop}, but webhook subscriptions failed: "
            f"{result.subscription_error}. The operator can retry with "
            f"`connector register-webhooks --shop {result.shop}`.",
        )
    return _page(200, "Installed", f"The connector is installed on {result.shop}; new orders will be delivered.")
