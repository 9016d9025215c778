"""Shopify OAuth, authorization-code grant: the authorize URL and the token endpoint.

https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant

Why not ``shopify.Session`` (ShopifyAPI): its api key/secret are class-global (two apps or two
tests in one process would share them), it always talks to ``https://{shop}`` (no local
stand-in), and it neither checks ``state`` nor knows refresh tokens. The HMAC check it does is
reproduced, constant-time, in :mod:`connector.shopify.verify` (and tested against it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception

from connector.errors import SessionTokenError, ShopifyApiError, TokenRequestError
from connector.scrub import scrub_secrets

TIMEOUT_S = 15.0
# OAuth 2.0 error codes (RFC 6749 §5.2): the only words of the token endpoint's error answer a
# page may show. Its free text may echo the request (client_secret, code) and goes to logs only,
# scrubbed.
OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
        "invalid_subject_token",  # token exchange: the ID token is stale or not this app's
    }
)
# Token exchange (RFC 8693 as Shopify takes it; shopifyapp's exchange/token_exchange.py).
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
# A page request waits for these grants: retries of 429/5xx stop within this budget.
RETRY_BUDGET_S = 10.0
RETRY_ATTEMPTS = 3


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
    query = urlencode({"client_id": api_key, "scope": scopes, "redirect_uri": redirect_uri, "state": state})
    return f"{base}/admin/oauth/authorize?{query}"


def _post_token_request(base: str, form: Mapping[str, Any]) -> TokenGrant:
    url = f"{base}/admin/oauth/access_token"
    secrets = [
        str(v) for k, v in form.items() if k in ("client_secret", "code", "refresh_token", "subject_token") and v
    ]
    try:
        response = requests.post(url, json=dict(form), headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise ShopifyApiError(f"token request to {url} failed: {type(exc).__name__}", transient=True) from None
    if response.status_code != 200:
        code = _error_code(response)
        raise TokenRequestError(
            f"token request refused: HTTP {response.status_code}" + (f" ({code})" if code else ""),
            status=response.status_code,
            transient=response.status_code >= 500 or response.status_code == 429,
            detail=scrub_secrets(response_text(response), secrets),
            code=code,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    return parse_token_grant(data)


def parse_token_grant(data: Any) -> TokenGrant:
    """The grant in a 200 answer, checked: a missing, null, empty or non-string ``access_token``
    must never install a shop (``str(None)`` once became the token ``"None"``)."""
    if not isinstance(data, dict):
        raise ShopifyApiError("token response is not a JSON object")
    token = data.get("access_token")
    if not isinstance(token, str) or not token.strip() or token != token.strip() or len(token) > 4096:
        raise ShopifyApiError("token response has no usable access_token")
    refresh = data.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh.strip()):
        raise ShopifyApiError("token response has a malformed refresh_token")
    scope = data.get("scope", "")
    if not isinstance(scope, str):
        raise ShopifyApiError("token response has a malformed scope")
    return TokenGrant(
        access_token=token,
        scope=scope,
        refresh_token=refresh,
        expires_in=_seconds(data, "expires_in"),
        refresh_token_expires_in=_seconds(data, "refresh_token_expires_in"),
    )


def _seconds(data: dict[str, Any], key: str) -> float | None:
    """A positive lifetime in seconds, None when absent; anything else is a malformed answer."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10 * 365 * 86400:
        raise ShopifyApiError(f"token response has a malformed {key}")
    return float(value)


def _error_code(response: requests.Response) -> str:
    """Shopify's OAuth error code when it is one of the standard ones; never free text."""
    try:
        data = response.json()
    except ValueError:
        return ""
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code in OAUTH_ERROR_CODES else ""


def response_text(response: requests.Response) -> str:
    """The head of an error answer, for a (scrubbed) log line."""
    return (response.content or b"")[:4000].decode("utf-8", errors="replace")


def fetch_access_token(base: str, api_key: str, api_secret: str, code: str, expiring: bool) -> TokenGrant:
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
            "client_id": api_key,
            "client_secret": api_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a delta-seconds ``Retry-After`` (Shopify sends seconds), else None."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _with_retries(base: str, form: Mapping[str, Any]) -> TokenGrant:
    """A token request that rides out Shopify's 429/5xx (and network blips), honouring
    ``Retry-After``, within :data:`RETRY_BUDGET_S` — a merchant's page is waiting."""
    started = time.monotonic()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        return hinted if hinted is not None else min(0.5 * 2 ** (state.attempt_number - 1), 4.0)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= RETRY_ATTEMPTS:
            return True
        return time.monotonic() - started + wait(state) > RETRY_BUDGET_S

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, ShopifyApiError) and exc.transient),
        wait=wait,
        stop=stop,
        reraise=True,
    )
    return retrying(_post_token_request, base, form)


def exchange_id_token(base: str, api_key: str, api_secret: str, id_token: str, expiring: bool = True) -> TokenGrant:
    """Shopify's token exchange: a verified ID token for an offline access token (expiring ones
    come with a refresh token). Raises SessionTokenError when Shopify calls the ID token
    stale (``invalid_subject_token``): App Bridge must fetch a fresh one.
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange
    """
    form = {
        "client_id": api_key,
        "client_secret": api_secret,
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": id_token,
        "subject_token_type": ID_TOKEN_TYPE,
        "requested_token_type": OFFLINE_TOKEN_TYPE,
        "expiring": 1 if expiring else 0,
    }
    try:
        return _with_retries(base, form)
    except TokenRequestError as exc:
        if exc.code == "invalid_subject_token":
            raise SessionTokenError("Shopify refused the ID token for token exchange (invalid_subject_token)") from None
        raise


def fetch_client_credentials_token(base: str, client_id: str, client_secret: str) -> TokenGrant:
    """The client credentials grant of a Dev Dashboard custom app: a token valid for 24 hours.
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/client-credentials-grant
    """
    return _with_retries(
        base, {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}
    )
