"""Shopify ID tokens (session tokens): the JWT App Bridge attaches to every request of the app page.

Pure verification, no I/O. The checks are the union of Shopify's own implementations:
ShopifyAPI's ``shopify/session_token.py`` (audience, required claims, ``iss`` and ``dest`` the same
myshopify shop) and shopifyapp's ``verify/app_home_req.py`` (the previous secret during a
rotation, 10 s of clock leeway). Shopify's description of the token:
https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens

The shop is taken from ``dest`` and from nothing else: a query string or body naming a shop is
never trusted, because only the signed token says which shop's admin opened the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from connector.errors import SessionTokenError
from connector.shopify.domains import is_valid_shop_domain

ALGORITHMS = ["HS256"]  # never taken from the token's header: that is how `alg: none` gets in
# App Bridge often mints tokens whose nbf is a second or two ahead of our clock (ShopifyAPI's
# comment on its own leeway); 10 s is the most Shopify's libraries allow.
LEEWAY_S = 10
REQUIRED_CLAIMS = ["iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti", "sid"]


@dataclass(frozen=True)
class SessionToken:
    """A verified ID token: whose admin (``shop``), which staff member and admin session."""

    shop: str
    user_id: str
    session_id: str
    claims: Mapping[str, Any]
    token: str  # the raw JWT: token exchange trades it for an offline access token

    def __repr__(self) -> str:  # the raw token stays out of logs and tracebacks
        return f"SessionToken(shop={self.shop!r}, user_id={self.user_id!r})"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def verify_session_token(token: str, api_key: str, secrets: Iterable[str]) -> SessionToken:
    """Verify ``token`` for the app ``api_key``; raise :class:`SessionTokenError` on any doubt.

    ``secrets`` is the current client secret, then the previous one during a rotation.
    """
    if not api_key:
        raise SessionTokenError("shopify.api_key is not set: no ID token can be verified")
    claims = _decode(token, api_key, [s for s in secrets if s])
    shop = _shop_of(claims)
    return SessionToken(
        shop=shop,
        user_id=str(claims["sub"]),
        session_id=str(claims["sid"]),
        claims=claims,
        token=token,
    )


def _decode(token: str, api_key: str, secrets: list[str]) -> dict[str, Any]:
    if not secrets:
        raise SessionTokenError("no client secret configured")
    for secret in secrets:
        try:
            return jwt.decode(
                token,
                secret,
                algorithms=ALGORITHMS,
                audience=api_key,
                leeway=LEEWAY_S,
                # strict_aud: aud must be the api key itself, not a list that happens to hold it.
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.InvalidSignatureError:
            continue  # maybe signed with the other secret (a rotation in progress)
        except jwt.PyJWTError as exc:
            raise SessionTokenError(f"invalid ID token: {exc}") from None
    raise SessionTokenError("invalid ID token: signature verification failed")


def _shop_of(claims: Mapping[str, Any]) -> str:
    """The shop of ``dest`` once ``iss`` is known to be the same shop's admin."""
    dest, iss = _origin(claims["dest"]), _origin(claims["iss"])
    if dest is None or not is_valid_shop_domain(dest):
        raise SessionTokenError("invalid ID token: dest is not a myshopify.com shop")
    if iss != dest:
        raise SessionTokenError("invalid ID token: iss and dest name different shops")
    return dest.lower()


def _origin(value: Any) -> str | None:
    """The host of an ``https://host[/path]`` claim, or None for anything else."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or parts.query or parts.fragment:
        return None
    return parts.netloc  # raw netloc: a port or user@ makes it fail the shop pattern
