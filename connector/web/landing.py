"""``GET /``: where a browser lands on the connector's bare address.

Shopify opens an app's ``application_url`` with its launch parameters, and people type the
service's address into a browser; neither should meet a 404:

* Shopify's embedded launch (``embedded=1`` or an ``id_token``) → ``/app`` with the query as it
  came, where the ID token is verified (and exchanged on a first visit, managed installation).
* Shopify's signed launch (``hmac``, fresh ``timestamp``) of a shop that is not installed — the
  legacy install flow of an app with ``use_legacy_install_flow = true`` → ``/auth/install`` with
  the same query, which checks the signature again and starts the OAuth grant.
* Any other launch naming a ``shop`` or ``host`` → ``/app``, which sends the browser into that
  shop's admin (only to a ``host`` or ``shop`` that is Shopify's).
* Nothing of Shopify's → a short page: merchants open the app in their admin, operators read
  the docs. It names no shop, account or setting.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.verify import is_fresh_timestamp, verify_oauth_hmac
from connector.store.shops import get_shop
from connector.web.dbconn import request_db

bp = Blueprint("landing", __name__, template_folder="templates")


def _query() -> str | None:
    try:
        return request.query_string.decode("ascii")
    except UnicodeDecodeError:
        return None  # browsers percent-encode; raw non-ASCII bytes are not from Shopify


def _signed_by_shopify(shop: str) -> bool:
    settings = current_app.config["SETTINGS"]
    params = {key: request.args.get(key, "") for key in request.args}
    secrets = (settings["shopify.api_secret"], settings["shopify.previous_api_secret"])
    return (
        is_valid_shop_domain(shop)
        and verify_oauth_hmac(params, secrets)
        and is_fresh_timestamp(params.get("timestamp"), time.time())
    )


def _installed(shop: str) -> bool:
    """The shop has Admin API access: from the operator's entry, or a live install."""
    entry = current_app.config["SETTINGS"].shops.get(shop, {})
    if entry.get("access_token") or entry.get("client_credentials"):
        return True
    row = get_shop(request_db(), shop)
    return bool(row and row["access_token"] and not row["uninstalled_at"])


@bp.get("/")
def root() -> BaseResponse:
    query = _query()
    args = request.args
    if query and (args.get("embedded") == "1" or args.get("id_token")):
        return redirect(f"/app?{query}", code=302)
    shop = (args.get("shop") or "").strip().lower()
    if query and args.get("hmac") and _signed_by_shopify(shop) and not _installed(shop):
        return redirect(f"/auth/install?{query}", code=302)
    if query and (shop or args.get("host")):
        return redirect(f"/app?{query}", code=302)
    response = Response(render_template("landing.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response
