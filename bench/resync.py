"""Re-sync throughput against the Shopify stand-in's cost bucket, beside the bound the limit allows.

    python bench/resync.py [--orders 1500] [--bucket 1000] [--restore 50] [--page 100]

The bound: Shopify admits a query only when ``requestedQueryCost`` points are available and then
charges ``actualQueryCost``. Starting from a full bucket, the last page can start no earlier than
``(Σ actual of the other pages + requested of the last − bucket) / restoreRate`` seconds — no
client can be faster. The run goes through the real path: paced client → GraphQL → REST shape →
events stored in SQLite with the job's cursor, one transaction per page.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.app import prepare_store
from connector.resync.jobs import create_resync_job
from connector.resync.runner import run_job
from connector.resync.spec import ResyncSpec
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import get_db
from tests.support import SHOP, custom_app, make_settings


def bound_seconds(orders: int, page: int, bucket: float, restore: float, node_cost: int, actual_node_cost: int) -> float:
    pages = math.ceil(orders / page)
    actual = [2 + min(page, orders - i * page) * actual_node_cost for i in range(pages)]
    requested_last = 2 + page * node_cost
    return max(0.0, (sum(actual[:-1]) + requested_last - bucket) / restore)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--bucket", type=float, default=1000.0)
    parser.add_argument("--restore", type=float, default=50.0)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--node-cost", type=int, default=4, help="requested points per order in a page")
    parser.add_argument("--actual-node-cost", type=int, default=2, help="charged points per order")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ShopifyAdminStandIn(
        orders=args.orders, maximum=args.bucket, restore_rate=args.restore,
        node_cost=args.node_cost, actual_node_cost=args.actual_node_cost,
    ) as shopify:
        settings = make_settings(
            Path(tmp), shop=custom_app(shopify.url), **{"shopify.page_size": args.page},
        )
        prepare_store(settings)
        db = get_db(settings["database.path"])
        job_id = create_resync_job(db, settings, ResyncSpec(shop=SHOP, since="2020-01-01T00:00:00Z"), "bench", "bench")
        started = time.monotonic()
        job = run_job(db, settings, job_id, "bench")
        elapsed = time.monotonic() - started
        assert job and job["status"] == "done" and job["queued"] == args.orders, job

    bound_s = bound_seconds(args.orders, args.page, args.bucket, args.restore, args.node_cost, args.actual_node_cost)
    achieved = args.orders / elapsed
    bound = args.orders / bound_s if bound_s else float("inf")
    steady = args.restore / ((2 + args.page * args.actual_node_cost) / args.page)
    print(f"bucket {args.bucket:g} points, restore {args.restore:g}/s, page {args.page} orders "
          f"(requested {2 + args.page * args.node_cost}, charged {2 + args.page * args.actual_node_cost} points)")
    print(f"re-synced {args.orders} orders in {elapsed:.2f}s ({job['pages']} pages, incl. one ordersCount query)")
    print(f"achieved        {achieved:8.2f} orders/s")
    print(f"rate-limit bound {bound:8.2f} orders/s  (fastest possible for this run: {bound_s:.2f}s)")
    print(f"steady state    {steady:8.2f} orders/s  (restoreRate / charged points per order)")
    print(f"achieved / bound = {achieved / bound:.3f}   throttled answers: {shopify.throttled}, "
          f"lowest headroom at admission: {shopify.min_headroom:.1f} points")


if __name__ == "__main__":
    main()
