"""The body of ``GET /metrics`` (served by :mod:`connector.web.health`) in Prometheus text format.

The metrics themselves live in :mod:`connector.metrics` (no Flask there, so the worker serves
the same set on ``worker.metrics_port``). Counters live in each process; queue figures (depth,
oldest pending event, orders by status, dead letters) are read from SQLite at scrape time, so
they are right whichever gunicorn worker answers. Counters are summed across gunicorn's workers
through PROMETHEUS_MULTIPROC_DIR, which the shipped gunicorn config sets for every server start
(:mod:`connector.multiproc_metrics`).
"""

from __future__ import annotations

import os

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from connector.metrics import WEBHOOKS, StoreCollector

__all__ = ["WEBHOOKS", "StoreCollector", "metrics_response"]


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
