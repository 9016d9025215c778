"""Minting Shopify ID tokens (session tokens) the way App Bridge receives them, for tests.

The claims are those of a real token (https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens):
``iss`` is the shop's admin URL, ``dest`` the shop's URL, ``aud`` the app's client id.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

# Shaped like real credentials: a 32-hex client id and a 38-character client secret (PyJWT warns
# about HMAC keys under 32 bytes; Shopify's secrets are longer than that).
API_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
API_SECRET = "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"
PREVIOUS_API_SECRET = "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"


def id_token_claims(shop: str, *, api_key: str = API_KEY, lifetime_s: int = 60, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": "42",
        "exp": now + lifetime_s,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def mint_id_token(shop: str, *, secret: str = API_SECRET, algorithm: str = "HS256",
                  headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """A signed ID token for ``shop``; ``claims`` change (or, given None, remove) claims."""
    return jwt.encode(id_token_claims(shop, **claims), secret, algorithm=algorithm, headers=headers)
