"""What one order may cost the worker is bounded at triage; an innocent order is never starved.

Found by an attack run: one signed 4.5 MB body with 1.5 M line items took the worker 23 s and
723 MB; four at once 2.5 GB, and an innocent order waited 57 s.
"""

from __future__ import annotations

import json
import time

import psutil

from connector.worker.limits import BodyLimits, document_problem, raw_problem
from tests.conftest import SHOP, fixture_bytes, live_order
from tests.support import tuples

INNOCENT = "450789469"


def huge_order(n: int, items: int) -> bytes:
    """A signed-looking order of ``items`` empty line items (4.5 MB at 1.5 M)."""
    head = json.dumps({"id": 1000 + n, "admin_graphql_api_id": f"gid://shopify/Order/{1000 + n}",
                       "updated_at": "2026-11-25T10:00:00Z"})[:-1].encode()
    return head + b', "line_items": [' + b",".join([b"{}"] * items) + b"]}"


def test_four_bodies_of_a_million_and_a_half_line_items_cost_little_and_starve_nobody(post, run_worker, target, db_path):
    bodies = [huge_order(n, 1_500_000) for n in range(4)]
    assert all(len(b) < 5 * 1024 * 1024 for b in bodies)
    for body in bodies:
        assert post(body).status_code == 200
    assert post(live_order(id=int(INNOCENT))).status_code == 200
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.monotonic()
    stats = run_worker()
    elapsed = time.monotonic() - started
    grown_mb = (process.memory_info().rss - rss_before) / 1e6
    assert f"/orders/{SHOP}/{INNOCENT}" in target.documents and stats.delivered == 1
    rows = tuples(db_path, "SELECT state, reason FROM events ORDER BY id")
    assert [state for state, _ in rows] == ["invalid"] * 4 + ["delivered"]
    assert all("worker.max_line_items" in reason for _, reason in rows[:4])
    # Before: 23 s and 723 MB for one of them. Each body is looked at, never parsed.
    assert elapsed < 10, elapsed
    assert grown_mb < 150, grown_mb


def real_order_with(items: int) -> bytes:
    order = json.loads(live_order())
    order["line_items"] = [dict(order["line_items"][0], id=i + 1) for i in range(items)]
    return json.dumps(order).encode()


def test_an_order_over_the_line_item_limit_is_kept_aside_and_delivered_once_the_limit_is_raised(post, run_worker, target, db_path):
    post(real_order_with(3000), webhook_id="first")
    run_worker()
    ((state, reason),) = tuples(db_path, "SELECT state, reason FROM events")
    assert state == "invalid" and "3,000" in reason and "2,500" in reason and "worker.max_line_items" in reason
    assert target.documents == {}
    # The operator raises the limit; the order comes again (a re-sync, or Shopify's next update).
    post(real_order_with(3000), "orders/updated", webhook_id="again")
    run_worker(**{"worker.max_line_items": 5000})
    assert len(target.orders()) == 1


def test_real_bodies_are_well_within_the_limits():
    limits = BodyLimits()
    for name in ("orders_many_lines.json", "orders_create.shopify-docs-sample.exact-ids.json",
                 "fulfillments_create.shopify-docs-2026-04.json", "refunds_create.shopify-docs-2026-04.json"):
        raw = fixture_bytes(name)
        assert raw_problem(raw, limits) is None
        assert document_problem("orders/create", json.loads(raw), limits) is None
    assert raw_problem(real_order_with(2500), limits) is None  # the limit itself passes the cheap scan


def test_the_cheap_scan_needs_no_parsing():
    body = huge_order(0, 1_500_000)
    started = time.perf_counter()
    reason = raw_problem(body, BodyLimits())
    assert reason and "1,500,00" in reason
    assert time.perf_counter() - started < 0.5
