"""Exceptions shared across the connector.

Delivery errors carry the *reason* that ends up in the store (last error, dead-letter list),
so they must never contain credentials: their reason passes :func:`connector.scrub.scrub_secrets`
(patterns, the process's known secrets, bounded length) whoever raises them.
"""

from __future__ import annotations

from typing import Any

from connector.scrub import scrub_secrets


class ConnectorError(Exception):
    """Base class for every error the connector raises on purpose."""


class ConfigError(ConnectorError):
    """A configuration key is missing or malformed; the message names the key."""


class StorageError(ConnectorError):
    """The SQLite store could not be read or written (disk full, read-only, locked too long)."""


class DeliveryError(ConnectorError):
    """A target refused or failed a delivery.

    ``reason`` is a one-line human explanation kept in the store; ``status`` is the HTTP
    status when there was a response.
    """

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        reason = scrub_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.status = status


class TransientDeliveryError(DeliveryError):
    """A failure that may succeed later (timeouts, 429, 5xx): retried, then rescheduled."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A failure that cannot succeed by retrying (a 4xx the target will always refuse)."""


class AccountError(DeliveryError):
    """The shop's tracking account refused our credentials (HTTP 401/403) or is incomplete.

    Not the order's fault, and the same for every order of the shop: the worker holds the shop's
    deliveries (nothing is dead-lettered, other shops keep flowing) and shows the platform's
    reason as the account's state until the credentials are fixed.
    """


class MappingError(PermanentDeliveryError):
    """The Shopify data cannot be turned into a valid target request; the reason says why."""


class WaitingError(TransientDeliveryError):
    """The delivery depends on something not there yet (e.g. a fulfillment before its order)."""


class TokenEncryptionError(ConfigError):
    """Shop tokens cannot be stored or read: no (or a wrong) ``shopify.token_encryption_key``."""


class OAuthError(ConnectorError):
    """An install or token request failed; ``status`` is the HTTP answer to give the browser."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SessionTokenError(ConnectorError):
    """A Shopify ID token (session token) failed verification; the reason is for logs, never the client."""


class ShopifyApiError(ConnectorError):
    """Shopify's Admin API (OAuth token endpoint or GraphQL) refused or failed a request.

    ``transient`` says if retrying may help. The message never contains the access token (only
    method, path and Shopify's own message, scrubbed). ``detail`` is Shopify's own error text,
    scrubbed, for logs only: a page shows ``reason``.
    """

    def __init__(self, reason: str, *, status: int | None = None, transient: bool = False, detail: str = "") -> None:
        reason = scrub_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.transient = transient
        self.detail = scrub_secrets(detail) if detail else ""


class TokenRequestError(ShopifyApiError):
    """Shopify's token endpoint refused a grant: ``code`` is its OAuth error code (never free
    text), ``retry_after`` its ``Retry-After`` in seconds."""

    def __init__(self, reason: str, *, code: str = "", retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(reason, **kwargs)
        self.code = code
        self.retry_after = retry_after


class ShopNotInstalledError(ConnectorError):
    """No usable Admin API token for the shop: not installed, uninstalled, or not configured."""


class ShopifyThrottledError(ShopifyApiError):
    """A THROTTLED answer (HTTP 200 with a THROTTLED error, or 429): wait for points, retry."""

    def __init__(self, message: str, *, status: int | None = None, wait_s: float | None = None) -> None:
        super().__init__(message, status=status, transient=True)
        self.wait_s = wait_s


class BadRequestError(ConnectorError, ValueError):
    """An operator request (admin API or CLI) is malformed; the message says what to fix."""
