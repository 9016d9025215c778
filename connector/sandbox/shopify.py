"""A local Shopify for the app lifecycle: OAuth token endpoint and webhook subscriptions.

Real HTTP on 127.0.0.1, strict like Shopify where it matters to us:

* ``POST /admin/oauth/access_token`` checks client id/secret; codes are single use (issue one
  with :meth:`ShopifyStandIn.issue_code`); ``expiring=1`` gets a 60-minute token and a refresh
  token; ``grant_type=refresh_token`` rotates both (the old refresh token dies).
* token exchange (``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``): the
  ``subject_token`` must be an ID token signed with the app's secret, for this app (``aud``), not
  expired, whose ``dest`` is the shop of the URL; else ``400 invalid_subject_token``, as Shopify.
  ``expiring=1`` gets the 60-minute token and refresh token.
* client credentials (``grant_type=client_credentials``): the app's id and secret (or a custom
  app's, see :meth:`ShopifyStandIn.add_custom_app`) get a 24-hour token (``expires_in`` 86399).
* :attr:`ShopifyStandIn.token_answers` queues answers for the next token requests (a 429 with
  ``Retry-After``, a 503, a 200 with ``"access_token": null``…), to play Shopify failing.
* ``POST /admin/api/<version>/graphql.json`` needs a live ``X-Shopify-Access-Token`` and answers
  ``webhookSubscriptions`` (paged) and ``webhookSubscriptionCreate`` (userError for a duplicate
  topic+uri, like Shopify's "Address for this topic has already been taken").

Paths may be prefixed with ``/shops/<shop>`` so that ``admin_base_url_template`` can point here.
Order queries live in ``shopify_admin.py`` (another stand-in), not here.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import jwt

from connector.sandbox.server import Request, Response, StandIn

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

GRAPHQL_PATH = re.compile(r"\A/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json\Z")
PREFIX = re.compile(r"\A/shops/([^/]+)(/.*)\Z")
KNOWN_TOPICS = {
    "APP_UNINSTALLED",
    "APP_SCOPES_UPDATE",  # (since API 2024-10)
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_PAID",
    "ORDERS_CANCELLED",
    "ORDERS_FULFILLED",
    "ORDERS_PARTIALLY_FULFILLED",
    "ORDERS_DELETE",
    "FULFILLMENTS_CREATE",
    "FULFILLMENTS_UPDATE",
    "REFUNDS_CREATE",
}


class ShopifyStandIn(StandIn):
    def __init__(
        self,
        api_key: str,
        api_secret: str,
        scope: str = "read_orders,read_fulfillments",
        token_lifetime_s: float = 3600.0,
        page_size: int = 5,
    ) -> None:
        super().__init__()
        self.api_key, self.api_secret, self.scope = api_key, api_secret, scope
        self.token_lifetime_s = token_lifetime_s
        self.page_size = page_size  # small, so the client's paging is exercised
        self.codes: dict[str, str] = {}  # code -> shop
        self.tokens: dict[str, tuple[str, float | None]] = {}  # token -> (shop, expires at)
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> shop
        self.subscriptions: dict[str, list[dict[str, str]]] = {}
        self.token_requests = 0
        self.grants: list[tuple[str, str]] = []  # (grant type, shop) of every token granted
        self.custom_apps: dict[str, str] = {}  # client id -> secret of Dev Dashboard custom apps
        self.token_answers: list[Response] = []  # answered first, in order, by the token endpoint
        self.client_credentials_lifetime_s = 86399

    # -- test controls -------------------------------------------------------------------------
    def issue_code(self, shop: str) -> str:
        """What Shopify puts in the callback after the merchant approves."""
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = shop
        return code

    def add_token(self, shop: str, token: str | None = None) -> str:
        """A custom app's Admin API token, as created in the shop admin."""
        token = token or "shpat_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = (shop, None)
        return token

    def add_custom_app(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.custom_apps[client_id] = client_secret

    def grants_of(self, grant_type: str) -> list[str]:
        with self.lock:
            return [shop for kind, shop in self.grants if kind == grant_type]

    def expire_all_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: (shop, 0.0 if exp is not None else None) for t, (shop, exp) in self.tokens.items()}

    def subscriptions_of(self, shop: str) -> list[tuple[str, str]]:
        with self.lock:
            return sorted((s["topic"], s["uri"]) for s in self.subscriptions.get(shop, []))

    # -- HTTP --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path, prefixed_shop = request.path, None
        match = PREFIX.match(path)
        if match:
            prefixed_shop, path = match.group(1), match.group(2)
        if request.method == "POST" and path == "/admin/oauth/access_token":
            return self._token(request, prefixed_shop)
        if request.method == "POST" and GRAPHQL_PATH.match(path):
            return self._graphql(request)
        return Response(404, {"errors": "Not Found"})

    def _form(self, request: Request) -> dict[str, str]:
        try:
            data = request.json()
            if isinstance(data, dict):
                return {k: str(v) for k, v in data.items()}
        except ValueError:
            pass
        from urllib.parse import parse_qsl

        return dict(parse_qsl(request.body.decode()))

    def _token(self, request: Request, prefixed_shop: str | None) -> Response:
        form = self._form(request)
        with self.lock:
            self.token_requests += 1
            if self.token_answers:
                return self.token_answers.pop(0)
            grant_type = form.get("grant_type", "authorization_code")
            if grant_type == "client_credentials":
                return self._client_credentials(form, prefixed_shop)
            if form.get("client_id") != self.api_key or form.get("client_secret") != self.api_secret:
                return Response(400, {"error": "invalid_client", "error_description": "Client credentials are invalid"})
            if grant_type == TOKEN_EXCHANGE:
                return self._token_exchange(form, prefixed_shop)
            if form.get("grant_type") == "refresh_token":
                shop = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
                if shop is None:
                    return Response(400, {"error": "invalid_grant", "error_description": "refresh token is invalid"})
                return Response(200, self._grant(shop, expiring=True))
            shop = self.codes.pop(form.get("code", ""), None)
            if shop is None or (prefixed_shop and prefixed_shop != shop):
                return Response(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "The authorization code was not found or was already used",
                    },
                )
            return Response(200, self._grant(shop, expiring=form.get("expiring") == "1"))

    def _token_exchange(self, form: dict[str, str], shop: str | None) -> Response:
        refused = Response(400, {"error": "invalid_subject_token", "error_description": "Invalid subject token"})
        if form.get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" or shop is None:
            return refused
        try:
            claims = jwt.decode(
                form.get("subject_token", ""), self.api_secret, algorithms=["HS256"], audience=self.api_key
            )
        except jwt.PyJWTError:
            return refused
        if claims.get("dest") != f"https://{shop}":
            return refused
        if form.get("requested_token_type") != "urn:shopify:params:oauth:token-type:offline-access-token":
            return Response(400, {"error": "invalid_request", "error_description": "unsupported requested_token_type"})
        self.grants.append((TOKEN_EXCHANGE, shop))
        return Response(200, self._grant(shop, expiring=form.get("expiring") == "1"))

    def _client_credentials(self, form: dict[str, str], shop: str | None) -> Response:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        known = (client_id == self.api_key and secret == self.api_secret) or self.custom_apps.get(client_id) == secret
        if not known or shop is None:
            return Response(400, {"error": "invalid_client", "error_description": "Client credentials are invalid"})
        token = "shpat_" + secrets.token_hex(16)
        self.tokens[token] = (shop, time.time() + self.client_credentials_lifetime_s)
        self.grants.append(("client_credentials", shop))
        return Response(
            200, {"access_token": token, "scope": self.scope, "expires_in": self.client_credentials_lifetime_s}
        )

    def _grant(self, shop: str, expiring: bool) -> dict[str, Any]:
        token = "shpat_" + secrets.token_hex(16)
        if not expiring:
            self.tokens[token] = (shop, None)
            return {"access_token": token, "scope": self.scope}
        refresh = "shprt_" + secrets.token_hex(16)
        self.tokens[token] = (shop, time.time() + self.token_lifetime_s)
        self.refresh_tokens[refresh] = shop
        return {
            "access_token": token,
            "scope": self.scope,
            "expires_in": int(self.token_lifetime_s),
            "refresh_token": refresh,
            "refresh_token_expires_in": 7776000,
        }

    def _graphql(self, request: Request) -> Response:
        token = request.headers.get("X-Shopify-Access-Token", "")
        with self.lock:
            shop, expires = self.tokens.get(token, (None, None))
            if shop is None or (expires is not None and expires < time.time()):
                return Response(
                    401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
                )
            body = request.json()
            query, variables = body.get("query", ""), body.get("variables") or {}
            if "webhookSubscriptionCreate" in query:
                return Response(200, {"data": {"webhookSubscriptionCreate": self._create(shop, variables)}})
            if "webhookSubscriptions" in query:
                return Response(200, {"data": {"webhookSubscriptions": self._list(shop, variables.get("after"))}})
            return Response(200, {"errors": [{"message": "unsupported query for this stand-in"}]})

    def _list(self, shop: str, after: str | None) -> dict[str, Any]:
        subs = self.subscriptions.get(shop, [])
        start = int(after) if after else 0
        page = subs[start : start + self.page_size]
        end = start + len(page)
        return {
            "nodes": [dict(s) for s in page],
            "pageInfo": {"hasNextPage": end < len(subs), "endCursor": str(end) if page else None},
        }

    def _create(self, shop: str, variables: dict[str, Any]) -> dict[str, Any]:
        topic, uri = variables.get("topic"), variables.get("uri", "")
        if topic not in KNOWN_TOPICS:
            return {
                "webhookSubscription": None,
                "userErrors": [{"field": ["topic"], "message": f"Invalid topic {topic}"}],
            }
        if not uri.startswith("https://"):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {"field": ["webhookSubscription", "uri"], "message": "Address protocol is not supported"}
                ],
            }
        subs = self.subscriptions.setdefault(shop, [])
        if any(s["topic"] == topic and s["uri"] == uri for s in subs):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {
                        "field": ["webhookSubscription", "uri"],
                        "message": "Address for this topic has already been taken",
                    }
                ],
            }
        sub = {"id": f"gid://shopify/WebhookSubscription/{len(subs) + 1}", "topic": topic, "uri": uri}
        subs.append(sub)
        return {"webhookSubscription": sub, "userErrors": []}
