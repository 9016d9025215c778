"""``GET /metrics`` in Prometheus text format.

Counters live in each process; queue figures (depth, oldest pending event, orders by status,
dead letters) are read from SQLite at scrape time, so they are right whichever gunicorn worker
answers. For counters summed across gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (see README).
"""

from __future__ import annotations

import os
from typing import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.store.events import count_events_by_state, oldest_open_event_age_s
from connector.store.failures import count_open_failures
from connector.store.orders import count_orders_by_status

bp = Blueprint("metrics", __name__)

WEBHOOKS = Counter(
    "connector_webhooks_total", "Webhooks received, by outcome (stored, duplicate, rejected) and reason",
    ["outcome", "reason"],
)


class StoreCollector(Collector):
    """Gauges computed from the SQLite store at scrape time."""

    def __init__(self, db_factory) -> None:  # type: ignore[no-untyped-def]
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
            "connector_queue_depth", "Events waiting for triage or delivery",
            value=counts.get("new", 0) + counts.get("queued", 0),
        )
        yield GaugeMetricFamily(
            "connector_oldest_pending_event_age_seconds", "Age of the oldest event not yet delivered",
            value=oldest_open_event_age_s(db) or 0.0,
        )
        yield GaugeMetricFamily(
            "connector_dead_letters", "Open entries in the dead-letter list", value=count_open_failures(db),
        )


def metrics_response(registry: CollectorRegistry) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        body = generate_latest(merged) + generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
