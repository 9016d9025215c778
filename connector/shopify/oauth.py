"""Shopify OAuth, authorization-code grant: the authorize URL and the token endpoint.

https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant

Why not ``shopify.Session`` (ShopifyAPI): its api key/secret are class-global (two apps or two
tests in one process would share them), it always talks to ``https://{shop}`` (no local
stand-in), and it neither checks ``state`` nor knows refresh tokens. The HMAC check it does is
reproduced, constant-time, in :mod:`connector.shopify.verify` (and tested against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode

import requests

from connector.errors import ShopifyApiError

TIMEOUT_S = 15.0


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint answered. ``expires_in`` only for expiring offline tokens."""

    access_token: str
    scope: str
    refresh_token: str | None = None
    expires_in: float | None = None
    refresh_token_expires_in: float | None = None


def admin_base(template: str, shop: str, admin_url: str | None = None) -> str:
    """``https://{shop}`` (or the configured override) without a trailing slash or ``/admin``."""
    base = (admin_url or template.replace("{shop}", shop)).rstrip("/")
    return base[: -len("/admin")] if base.endswith("/admin") else base


def authorize_url(base: str, api_key: str, scopes: str, redirect_uri: str, state: str) -> str:
    """Where the merchant grants the scopes. No ``grant_options[]=per-user``: we want an offline
    token, which survives the staff member who installed the app."""
    query = urlencode(
        {"client_id": api_key, "scope": scopes, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{base}/admin/oauth/authorize?{query}"


def _post_token_request(base: str, form: Mapping[str, str]) -> TokenGrant:
    url = f"{base}/admin/oauth/access_token"
    try:
        response = requests.post(url, json=dict(form), headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise ShopifyApiError(f"token request to {url} failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        # The body may echo parameters; keep only Shopify's error words, never the form.
        detail = _error_detail(response)
        raise ShopifyApiError(f"token request refused: HTTP {response.status_code} {detail}", status=response.status_code)
    try:
        data: Any = response.json()
        return TokenGrant(
            access_token=str(data["access_token"]),
            scope=str(data.get("scope", "")),
            refresh_token=data.get("refresh_token"),
            expires_in=float(data["expires_in"]) if data.get("expires_in") else None,
            refresh_token_expires_in=float(data["refresh_token_expires_in"]) if data.get("refresh_token_expires_in") else None,
        )
    except (ValueError, KeyError, TypeError):
        raise ShopifyApiError("token response is not the expected JSON") from None


def _error_detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        return str(data.get("error_description") or data.get("error") or data.get("errors") or "")[:200]
    return ""


def fetch_access_token(
    base: str, api_key: str, api_secret: str, code: str, expiring: bool
) -> TokenGrant:
    """Exchange the callback's ``code`` for an offline token.

    ``expiring=1`` asks for an expiring offline token with a refresh token
    (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens).
    """
    form = {"client_id": api_key, "client_secret": api_secret, "code": code}
    if expiring:
        form["expiring"] = "1"
    return _post_token_request(base, form)


def fetch_refreshed_token(base: str, api_key: str, api_secret: str, refresh_token: str) -> TokenGrant:
    """A new access token (and usually a new refresh token) for an expiring offline token."""
    return _post_token_request(
        base,
        {
            "client_id": api_key, "client_secret": api_secret,
            "grant_type": "refresh_token", "refresh_token": refresh_token,
        },
    )
