"""Pure HMAC checks for Shopify webhooks (no I/O, no Flask).

Shopify signs the *raw body bytes* with the app's client secret: base64(HMAC-SHA256(secret,
body)) in ``X-Shopify-Hmac-Sha256``. Hash the bytes as received, never a re-serialised body.
https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable


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
