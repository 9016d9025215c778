"""Process-wide Prometheus metrics and the store-derived gauges (no Flask here).

Counters count what *this* process did (web: webhooks, re-sync jobs it ran; worker: deliveries,
Shopify calls of reconciliation). Queue figures are read from SQLite at scrape time, so any
process answers them correctly. ``connector.web.metrics`` serves them at ``/metrics``; the
worker serves the same on ``worker.metrics_host``:``worker.metrics_port``.

Neither is authenticated, so no metric names a merchant unless the operator asks for it
(``metrics.shop_labels``): otherwise the ``shop`` label is empty, which Prometheus stores as no
label at all, one series summed over every shop (``sum by (shop)`` in the alert rules still works).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.models import AttemptOutcome, EventState
from connector.store.db import Db, SqliteDb
from connector.store.events import count_events_by_state, oldest_open_event_age_s
from connector.store.failures import count_open_failures
from connector.store.journal import journal_backlog
from connector.store.orders import count_orders_by_status

WEBHOOKS = Counter(
    "connector_webhooks_total",
    "Webhooks received, by outcome (stored, duplicate, rejected) and reason",
    ["outcome", "reason"],
)
DELIVERY_ATTEMPTS = Counter(
    "connector_delivery_attempts_total",
    "Delivery attempts towards the target by outcome: succeeded, retried (transient failure), "
    "failed (permanent failure), unchanged (skipped, same payload as delivered)",
    ["outcome"],
)
DELIVERY_LATENCY = Histogram(
    "connector_delivery_seconds",
    "Duration of one request to the target (attempts that sent something)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SHOPIFY_THROTTLED = Counter(
    "connector_shopify_throttled_total", "THROTTLED answers from Shopify's Admin GraphQL API", ["shop"]
)
SHOPIFY_POINTS = Gauge(
    "connector_shopify_points_available",
    "Query-cost points left in Shopify's bucket at the last answer",
    ["shop"],
    multiprocess_mode="mostrecent",  # under gunicorn: the last answer any worker saw, not one series per pid
)
SHOPIFY_REQUESTS = Counter(
    "connector_shopify_requests_total",
    "Admin GraphQL API requests by outcome (ok, throttled, error)",
    ["shop", "outcome"],
)
TOKEN_RENEWALS = Counter(
    "connector_shopify_token_renewals_total",
    "Client-credentials Admin API tokens (Dev Dashboard custom apps) by outcome: installed, renewed, "
    "failed (Shopify refused; the old token is used until it expires)",
    ["outcome"],
)
RESYNC_ORDERS = Counter(
    "connector_resync_orders_total",
    "Orders fetched by re-sync/reconcile jobs, by what happened: queued, recovered, skipped",
    ["kind", "result"],
)

# Worker on_attempt outcomes (connector.worker.deliver) → the counter's outcome label.
_ATTEMPT_OUTCOMES: dict[str, str] = {
    AttemptOutcome.DELIVERED: "succeeded",
    AttemptOutcome.TRANSIENT: "retried",
    AttemptOutcome.FAILED: "failed",
    AttemptOutcome.UNCHANGED: "unchanged",
}


_shop_labels = False


def label_shops(enabled: bool) -> None:
    """Whether this process's metrics carry shop domains (``metrics.shop_labels``); set at start."""
    global _shop_labels
    _shop_labels = enabled


def shop_label(shop: str) -> str:
    """The ``shop`` label value: the domain where the operator opted in, else "" (no label)."""
    return shop if _shop_labels else ""


def record_delivery_attempt(outcome: str, seconds: float) -> None:
    """``Worker(on_attempt=...)`` callback: count the attempt, time those that sent a request."""
    DELIVERY_ATTEMPTS.labels(outcome=_ATTEMPT_OUTCOMES.get(outcome, outcome)).inc()
    if outcome != AttemptOutcome.UNCHANGED:
        DELIVERY_LATENCY.observe(seconds)


class StoreCollector(Collector):
    """Gauges computed from the SQLite store at scrape time."""

    def __init__(self, db_factory: Callable[[], Db]) -> None:
        self._db_factory = db_factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        db = self._db_factory()
        counts = count_events_by_state(db)
        events = GaugeMetricFamily("connector_events", "Stored events by state", labels=["state"])
        for state, count in counts.items():
            events.add_metric([state], count)
        yield events
        orders = GaugeMetricFamily("connector_orders", "Orders by sync status", labels=["status"])
        for status, count in count_orders_by_status(db).items():
            orders.add_metric([status], count)
        yield orders
        yield GaugeMetricFamily(
            "connector_queue_depth",
            "Events waiting for triage or delivery",
            value=counts.get(EventState.NEW, 0) + counts.get(EventState.QUEUED, 0),
        )
        # A webhook still in the intake journal (SQLite) is pending too: with the worker down it
        # waits there, not in the events table.
        unfiled = journal_backlog(db.location) if isinstance(db, SqliteDb) else None
        yield GaugeMetricFamily(
            "connector_oldest_pending_event_age_seconds",
            "Age of the oldest event not yet delivered (webhooks not yet filed from the intake journal included)",
            value=max(oldest_open_event_age_s(db) or 0.0, (unfiled and unfiled.oldest_age_s) or 0.0),
        )
        if unfiled is not None:
            yield GaugeMetricFamily(
                "connector_intake_journal_files",
                "Intake journal files of answered webhooks not filed into the database yet",
                value=unfiled.files,
            )
        yield GaugeMetricFamily(
            "connector_dead_letters",
            "Open entries in the dead-letter list",
            value=count_open_failures(db),
        )


class _Combined(Collector):
    """The process's default registry plus the store gauges, for the worker's metrics server."""

    def __init__(self, store: StoreCollector) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self._store.collect()


def start_metrics_server(port: int, db_factory: Callable[[], Db], addr: str = "127.0.0.1") -> CollectorRegistry:
    """Serve this process's metrics and the store gauges on ``addr:port`` (the worker's
    /metrics); loopback unless the operator says otherwise. Raises OSError when it cannot listen."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Combined(StoreCollector(db_factory)))
    start_http_server(port, addr=addr, registry=registry)
    return registry
