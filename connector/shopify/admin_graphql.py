"""A minimal Admin GraphQL call: POST ``/admin/api/{version}/graphql.json`` with the shop token.

Not ``shopify.GraphQL``: it reads the thread-local active session (shared state), always builds
``https://`` URLs and returns a raw string. This one takes its base URL and token explicitly and
raises :class:`~connector.errors.ShopifyApiError` on HTTP errors, GraphQL ``errors``, and
unauthorized tokens (e.g. after uninstall).
https://shopify.dev/docs/api/admin-graphql
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connector.errors import ShopifyApiError

TIMEOUT_S = 20.0


def execute_graphql(
    base: str, api_version: str, token: str, query: str, variables: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run one query or mutation; returns ``data``."""
    url = f"{base}/admin/api/{api_version}/graphql.json"
    try:
        response = requests.post(
            url,
            json={"query": query, "variables": dict(variables or {})},
            headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            timeout=TIMEOUT_S,
        )
    except requests.RequestException as exc:
        raise ShopifyApiError(f"Admin API request to {url} failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ShopifyApiError(f"Admin API answered HTTP {response.status_code}", status=response.status_code)
    try:
        payload = response.json()
    except ValueError:
        raise ShopifyApiError("Admin API answer is not JSON") from None
    if payload.get("errors"):
        messages = "; ".join(str(e.get("message", e)) for e in payload["errors"] if isinstance(e, dict))
        raise ShopifyApiError(f"Admin API errors: {messages or payload['errors']}"[:500])
    return payload.get("data") or {}
