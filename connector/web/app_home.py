"""The merchant's page in the Shopify admin (``/app``) and App Bridge's bounce page.

Shopify opens ``/app?embedded=1&shop=…&host=…&id_token=…`` inside the admin. Every page request
is checked the way Shopify's libraries check it (see :mod:`connector.shopify.embedded`):

1. ``embedded`` ≠ 1: opened outside the admin → 302 into the admin.
2. no valid ``id_token`` → 302 to ``/auth/patch-id-token`` (the bounce page), where App Bridge
   gets a fresh token and reloads the original URL.
3. verified → the page, with ``Content-Security-Policy: frame-ancestors`` for the token's shop.

The pages are one HTML shell; the data comes from ``/app/api`` through ``fetch`` (App Bridge adds
the token), so nothing a merchant typed is ever rendered into HTML by the server.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from connector.errors import SessionTokenError, ShopifyApiError
from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.embedded import (
    APP_BRIDGE_URL,
    LINK_HEADER,
    PATCH_ID_TOKEN_PATH,
    POLARIS_URL,
    bounce_url,
    content_security_policy,
    embedded_app_url,
)
from connector.shopify.ids import shopify_id
from connector.web.app_session import ensure_offline_access, verified_session

bp = Blueprint(
    "app_home",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/app/static",
)

# page name → (path, title); the order is the order of <s-app-nav>
PAGES = {"home": ("/app", "Home"), "orders": ("/app/orders", "Orders"), "settings": ("/app/settings", "Settings")}
# Framing for pages that have no verified shop (errors): only the admin itself.
ADMIN_ONLY_CSP = "frame-ancestors https://admin.shopify.com; script-src 'none'; object-src 'none'; base-uri 'none'"


def _message_page(status: int, title: str, text: str) -> Response:
    response = Response(render_template("app/message.html", title=title, text=text), status=status)
    response.headers["Content-Security-Policy"] = ADMIN_ONLY_CSP
    return response


def _api_key() -> str:
    return current_app.config["SETTINGS"]["shopify.api_key"]


def _raw_query() -> str | None:
    try:
        return request.query_string.decode("ascii")
    except UnicodeDecodeError:
        return None  # browsers percent-encode; raw non-ASCII bytes are not from Shopify


def _document(page: str, **context: str) -> BaseResponse:
    """Authenticate a page request as Shopify's libraries do, then render ``page``."""
    args = request.args
    if not _api_key():  # no token can verify: say so once instead of bouncing for ever
        return _message_page(
            503,
            "The app is not set up yet",
            "The connector's operator has not set shopify.api_key (the app's client id).",
        )
    if args.get("embedded") != "1":
        target = embedded_app_url(_api_key(), args.get("host"), args.get("shop"))
        if target is None:
            return _message_page(
                400,
                "Open the app from your Shopify admin",
                "This page works inside the Shopify admin: open Apps → Tracking connector there.",
            )
        return redirect(target, code=302)
    raw_query = _raw_query()
    if raw_query is None:
        return _message_page(400, "Bad request", "The address is not valid.")
    session = verified_session(args.get("id_token"))
    if session is None:
        return redirect(bounce_url(request.path, raw_query), code=302)
    try:
        ensure_offline_access(session)
    except SessionTokenError:
        return redirect(bounce_url(request.path, raw_query), code=302)
    except ShopifyApiError:
        return _message_page(
            503, "Shopify did not answer", "Shopify did not answer in time; please reload in a moment."
        )
    html = render_template(
        "app/shell.html",
        page=page,
        pages=PAGES,
        api_key=_api_key(),
        title=PAGES[page][1],
        app_bridge_url=APP_BRIDGE_URL,
        polaris_url=POLARIS_URL,
        **context,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(session.shop)
    response.headers["Link"] = LINK_HEADER
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"  # the page's URL holds the ID token
    return response


@bp.after_request
def revalidate_assets(response: Response) -> Response:
    # The JS modules import each other by plain path: a browser must revalidate them (cheap, by
    # ETag) or it could mix an old module with a new one after a deploy.
    if request.endpoint == "app_home.static":
        response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/app")
def home() -> BaseResponse:
    return _document("home")


@bp.get("/app/orders")
def orders() -> BaseResponse:
    return _document("orders")


@bp.get("/app/orders/<order_id>")
def order(order_id: str) -> BaseResponse:
    if shopify_id(order_id) is None:
        return _message_page(404, "Not found", "There is no such order.")
    return _document("orders", order_id=order_id)


@bp.get("/app/settings")
def settings() -> BaseResponse:
    return _document("settings")


@bp.get(PATCH_ID_TOKEN_PATH)
def patch_id_token() -> Response:
    """App Bridge's bounce page, as shopifyapp's ``app_home_patch_id_token`` renders it.

    App Bridge reads ``shopify-reload``, fetches a fresh ID token from the admin and reloads that
    URL with it. The ``shop`` in the CSP is checked against the myshopify pattern (there is no
    token here to verify it with), so no attacker-chosen origin can reach the header.
    """
    api_key = _api_key()
    if not api_key:
        return Response("shopify.api_key is not set", status=500, mimetype="text/plain")
    shop = request.args.get("shop", "")
    if not is_valid_shop_domain(shop) or not request.args.get("shopify-reload"):
        return Response("Bad Request", status=400, mimetype="text/plain")
    body = render_template("app/patch_id_token.html", api_key=api_key, app_bridge_url=APP_BRIDGE_URL)
    response = Response(body, mimetype="text/html")
    response.headers["Link"] = f'<{APP_BRIDGE_URL}>; rel="preload"; as="script";'
    response.headers["Content-Security-Policy"] = content_security_policy(shop)
    response.headers["Cache-Control"] = "no-store"
    return response
