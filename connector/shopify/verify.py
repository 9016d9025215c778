"""Pure HMAC checks for Shopify webhooks (no I/O, no Flask).

Shopify signs the *raw body bytes* with the app's client secret: base64(HMAC-SHA256(secret,
body)) in ``X-Shopify-Hmac-Sha256``. Hash the bytes as received, never a re-serialised body.
https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def sign_body(body: bytes, secret: str) -> str:
    """The header value Shopify would send for ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_hmac(body: bytes, header_value: str | None, secrets: Iterable[str]) -> bool:
    """True when ``header_value`` is the signature of ``body`` under any of ``secrets``.

    Every configured secret is compared (current and previous, for rotations) in constant time;
    an empty secret never matches.
    """
    if not header_value:
        return False
    try:
        given = header_value.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    matched = False
    for secret in secrets:
        if secret:
            expected = sign_body(body, secret).encode("ascii")
            matched |= hmac.compare_digest(expected, given)
    return matched


# -- OAuth redirects (install link and callback) ---------------------------------------------
# Shopify signs the query string of the install request and the OAuth callback: hex
# HMAC-SHA256 (client secret) over the other parameters sorted by name, "k=v" joined by "&".
# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant#step-1-verify-the-installation-request
OAUTH_TIMESTAMP_TOLERANCE_S = 90  # shopify-app-js rejects HMAC timestamps outside ±90 s


def _oauth_message(params: Mapping[str, str]) -> str:
    """Sorted ``k=v`` pairs joined by ``&``, escaped as ShopifyAPI's ``Session`` does so that
    no pair can be forged from another ('%', '=' in keys, '&' anywhere)."""
    pairs = []
    for key, value in params.items():
        if key in ("hmac", "signature"):
            continue
        key = key.replace("%", "%25").replace("=", "%3D")
        value = value.replace("%", "%25")
        pairs.append(f"{key}={value}".replace("&", "%26"))
    return "&".join(sorted(pairs))


def sign_oauth_params(params: Mapping[str, str], secret: str) -> str:
    """The ``hmac`` Shopify would put on a redirect carrying ``params`` (hex digest)."""
    message = _oauth_message(params).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_oauth_hmac(params: Mapping[str, str], secrets: Iterable[str]) -> bool:
    """True when ``params["hmac"]`` signs the other parameters under any of ``secrets``."""
    given = params.get("hmac") or ""
    try:
        given_bytes = given.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    if not given_bytes:
        return False
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(sign_oauth_params(params, secret).encode("ascii"), given_bytes)
    return matched


def is_fresh_timestamp(value: str | None, now: float, tolerance_s: float = OAUTH_TIMESTAMP_TOLERANCE_S) -> bool:
    """True when ``value`` (Unix seconds, as Shopify sends it) is within ``tolerance_s`` of now."""
    if not value or not (value.isascii() and value.isdigit()) or len(value) > 12:
        return False
    return abs(now - int(value)) <= tolerance_s
