"""Shopify Admin GraphQL API client, paced to the shop's calculated-query-cost bucket.

Shopify meters GraphQL by query cost in a leaky bucket per app and store. Every answer carries
``extensions.cost.throttleStatus`` {maximumAvailable, currentlyAvailable, restoreRate}; the
figures differ by plan and changed over time, so they are read, never hard-coded
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits). Before each request the
client estimates the points available now (last answer + restoreRate × time since) and waits
until they cover the query's ``requestedQueryCost`` (Shopify reserves the requested cost up
front and refunds the unused part). A THROTTLED answer still happens (other apps share nothing,
but the same app may run elsewhere); it comes as HTTP 200 with ``errors[].extensions.code ==
"THROTTLED"`` or as 429, and is retried with tenacity after waiting for the missing points.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connector import metrics
from connector.errors import ShopifyApiError, ShopifyThrottledError
from connector.shopify.order_shape import ORDERS_QUERY, map_graphql_order

MAX_ATTEMPTS = 8
COUNT_QUERY = (
    "query ConnectorOrdersCount($query: String) { ordersCount(query: $query, limit: null) { count precision } }"
)
# The cheapest authenticated question (cost 1): which shop the token opens.
SHOP_QUERY = "query ConnectorShop { shop { name myshopifyDomain } }"
MIN_THROTTLE_WAIT_S = 0.05


@dataclass
class CostBucket:
    """The client's estimate of the shop's bucket, from the last answer (pure; clock passed in)."""

    maximum: float | None = None
    available: float | None = None
    restore_rate: float | None = None
    stamp: float = 0.0

    def update(self, status: Any, now: float) -> None:
        if not isinstance(status, dict):
            return
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.stamp = now

    def estimate(self, now: float) -> float | None:
        if self.available is None or self.restore_rate is None or self.maximum is None:
            return None
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.stamp))

    def wait_for(self, cost: float | None, now: float) -> float:
        """Seconds until ``cost`` points are estimated to be available (0 when unknown)."""
        level = self.estimate(now)
        if cost is None or level is None or not self.restore_rate:
            return 0.0
        needed = min(cost, self.maximum or cost)  # a query dearer than the bucket can never wait it out
        return max(0.0, (needed - level) / self.restore_rate)


@dataclass(frozen=True)
class OrdersPage:
    orders: list[dict[str, Any]]  # REST-shaped (see order_shape.map_graphql_order)
    end_cursor: str | None
    has_next: bool


@dataclass
class ShopifyAdminClient:
    """One shop's Admin GraphQL endpoint. Not thread-safe: one client per job."""

    shop: str
    base_url: str
    token: str
    api_version: str
    timeout_s: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    bucket: CostBucket = field(default_factory=CostBucket)
    requested_costs: dict[str, float] = field(default_factory=dict)
    throttled: int = 0

    @property
    def endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/admin/api/{self.api_version}/graphql.json"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query (paced, THROTTLED and 5xx retried) and return its ``data``."""
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, ShopifyApiError) and exc.transient),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=self._retry_wait,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._attempt, query, variables or {})

    def _retry_wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ShopifyThrottledError):
            # The pacing wait in _attempt covers the points; only add a floor (and Retry-After).
            return max(MIN_THROTTLE_WAIT_S, exc.wait_s or 0.0)
        return min(30.0, 0.5 * 2 ** (state.attempt_number - 1))

    def _attempt(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        delay = self.bucket.wait_for(self.requested_costs.get(query), self.clock())
        if delay > 0:
            self.sleep(delay)
        response = self._post(query, variables)
        body = _json(response)
        cost = ((body or {}).get("extensions") or {}).get("cost") or {}
        self.bucket.update(cost.get("throttleStatus"), self.clock())
        if cost.get("requestedQueryCost") is not None:
            self.requested_costs[query] = float(cost["requestedQueryCost"])
        if self.bucket.available is not None:
            metrics.SHOPIFY_POINTS.labels(metrics.shop_label(self.shop)).set(self.bucket.available)
        if response.status_code == 429 or _is_throttled(body):
            return self._throttled(response)
        if response.status_code >= 400 or body is None:
            metrics.SHOPIFY_REQUESTS.labels(metrics.shop_label(self.shop), "error").inc()
            raise _http_error(response)
        errors = body.get("errors")
        if errors:
            metrics.SHOPIFY_REQUESTS.labels(metrics.shop_label(self.shop), "error").inc()
            raise ShopifyApiError(f"Shopify GraphQL error: {_messages(errors)}", status=response.status_code)
        metrics.SHOPIFY_REQUESTS.labels(metrics.shop_label(self.shop), "ok").inc()
        return body.get("data") or {}

    def _throttled(self, response: requests.Response) -> dict[str, Any]:
        self.throttled += 1
        metrics.SHOPIFY_THROTTLED.labels(metrics.shop_label(self.shop)).inc()
        metrics.SHOPIFY_REQUESTS.labels(metrics.shop_label(self.shop), "throttled").inc()
        retry_after = response.headers.get("Retry-After")
        wait = _seconds(retry_after)
        raise ShopifyThrottledError("Shopify answered THROTTLED", status=response.status_code, wait_s=wait)

    def _post(self, query: str, variables: dict[str, Any]) -> requests.Response:
        headers = {
            "X-Shopify-Access-Token": self.token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            return self.session.post(
                self.endpoint, json={"query": query, "variables": variables}, headers=headers, timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            # Name the path only: the URL is safe but keep the habit of the target clients.
            raise ShopifyApiError(
                f"Shopify Admin API unreachable ({type(exc).__name__}): POST /admin/api/{self.api_version}/graphql.json",
                transient=True,
            ) from None

    def fetch_orders_page(self, search: str | None, first: int, after: str | None) -> OrdersPage:
        """One page of orders sorted by ``updated_at``, converted to the webhook shape."""
        data = self.graphql(ORDERS_QUERY, {"first": first, "after": after, "query": search})
        connection = data.get("orders") or {}
        page_info = connection.get("pageInfo") or {}
        nodes = connection.get("nodes")
        if nodes is None:
            nodes = [edge.get("node") for edge in connection.get("edges") or []]
        orders = [map_graphql_order(node) for node in nodes if isinstance(node, dict)]
        return OrdersPage(orders, page_info.get("endCursor"), bool(page_info.get("hasNextPage")))

    def count_orders(self, search: str | None) -> int | None:
        """How many orders match ``search`` (for progress bars); None when Shopify won't say."""
        try:
            data = self.graphql(COUNT_QUERY, {"query": search})
        except ShopifyApiError as exc:
            if exc.transient:
                raise
            return None  # older API versions lack ordersCount: progress just has no total
        count = (data.get("ordersCount") or {}).get("count")
        return int(count) if isinstance(count, int) else None

    def fetch_shop(self) -> dict[str, Any]:
        """``{"name", "myshopifyDomain"}`` of the shop the token opens, in one attempt (a check
        wants the answer now, not after a minute of retries)."""
        shop = self._attempt(SHOP_QUERY, {}).get("shop")
        return shop if isinstance(shop, dict) else {}

    def close(self) -> None:
        self.session.close()


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (ASCII digits, at most an hour); None for anything else."""
    text = (value or "").strip()
    whole, _, fraction = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (fraction and not (fraction.isascii() and fraction.isdigit())):
        return None
    return min(float(text), 3600.0)


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_throttled(body: dict[str, Any] | None) -> bool:
    errors = (body or {}).get("errors")
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors)


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:300]
    return str(errors)[:300]


def _http_error(response: requests.Response) -> ShopifyApiError:
    status = response.status_code
    hints = {
        401: "the access token was refused (re-install the app or fix shops.<shop>.access_token)",
        402: "the shop is frozen (unpaid)",
        403: "the token lacks a scope (read_orders is needed)",
        404: "shop or API version not found",
        423: "the shop is locked",
    }
    transient = status >= 500 or status in (408, 425)
    message = f"Shopify Admin API HTTP {status}: {hints.get(status, response.reason or 'error')}"
    return ShopifyApiError(message, status=status, transient=transient)
