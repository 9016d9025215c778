"""The merchant's order list at scale: one page (50 orders) at 100,000 orders vs at 1,000.

Two stores are built in the same run — a shop with ``--small`` orders and one with ``--large``
orders (each beside another shop's orders) — and the same page requests are timed on both: the
first page, a page deep in the list (keyset cursor), a status filter, a search by name, and the
overview's counts. Keyset paging reads an index range, so a page should cost about the same at
100,000 orders as at 1,000; the figure printed is the ratio large / small for each request.

    python bench/merchant_orders.py [--small 1000] [--large 100000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.store import shop_orders
from connector.store.db import connect
from connector.store.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent

SHOP, OTHER = "bench-shop.myshopify.com", "other-shop.myshopify.com"


def build(path: str, orders: int) -> Any:
    db = connect(path)
    migrate(db)
    statuses = ("synced",) * 8 + ("pending", "dead")

    def rows(shop: str, count: int):  # type: ignore[no-untyped-def]
        for i in range(count):
            yield (shop, str(5_000_000_000_000 + i), statuses[i % 10], f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:{i % 60:02d}:00.000000Z",
                   f"#{1000 + i}", str(1000 + i), "2026-11-01T00:00:00.000000Z")

    for shop in (SHOP, OTHER):
        db.conn.execute("BEGIN")
        db.conn.executemany(
            "INSERT INTO orders (shop, order_id, status, placed_at, name, order_number, last_synced_at, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, '2026-01-01', '2026-01-01')", rows(shop, orders))
        db.conn.execute("COMMIT")
    db.execute("ANALYZE")
    return db


def requests_for(db: Any, orders: int) -> dict[str, Callable[[], Any]]:
    middle = shop_orders.list_shop_orders(db, SHOP, (), None, orders // 2)[-1]
    deep = (middle["placed_at"], middle["order_id"])
    return {
        "first page": lambda: shop_orders.list_shop_orders(db, SHOP, (), None, 51),
        "deep page (cursor)": lambda: shop_orders.list_shop_orders(db, SHOP, (), deep, 51),
        "failed only": lambda: shop_orders.list_shop_orders(db, SHOP, ("dead",), None, 51),
        "search by name": lambda: shop_orders.find_shop_orders(db, SHOP, "#1500", "1500"),
        "overview counts": lambda: shop_orders.count_shop_orders(db, SHOP),
    }


def time_each(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    out = {}
    for name, call in calls.items():
        call()  # warm the page cache
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        out[name] = (time.perf_counter() - started) / repeat * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = time_each(requests_for(build(f"{tmp}/small.db", args.small), args.small), args.repeat)
        large = time_each(requests_for(build(f"{tmp}/large.db", args.large), args.large), args.repeat)
    print(f"{'request':<22}{args.small:>10,} orders{args.large:>12,} orders   ratio")
    for name in small:
        print(f"{name:<22}{small[name]:>13.3f} ms{large[name]:>15.3f} ms   {large[name] / small[name]:5.2f}")


if __name__ == "__main__":
    main()
