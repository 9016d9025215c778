"""Delivery throughput: orders per second from the store to a target stand-in.

For each target and each added latency (0 and 50 ms per request) it measures, in the same run:
  * baseline — the stand-in's own request rate, driven alone by the same number of concurrent
    clients (what the stand-in can take at most);
  * connector — N distinct orders queued in SQLite (as the webhook endpoint stores them), then
    delivered by `Worker.run(once=True)` with worker.concurrency threads.
The stand-in runs in its own process. Goals: ≥ 300 orders/s with no added latency, ≥ 150
orders/s at 50 ms.

    python bench/deliver.py [--orders 2000] [--concurrency 16] [--targets parcellab,foxdeli,http]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.config import load_settings
from connector.store.db import connect
from connector.store.events import NewEvent, save_event
from connector.store.migrations import migrate
from connector.store.shops import add_shop
from connector.worker.loop import Worker

ROOT = Path(__file__).resolve().parent.parent

SHOP = "bench-shop.myshopify.com"
SAMPLE = json.loads((ROOT / "tests/fixtures/orders_create.shopify-docs-sample.exact-ids.json").read_text())
TARGET_SETTINGS = {
    "http": {},
    "parcellab": {"target.token": "bench-token", "target.account": "1612345", "target.client_key": "bench"},
    # The Foxdeli stand-in's default credentials and e-shop.
    "foxdeli": {"target.username": "api-user@shop.example", "target.password": "s3cret-Pa55word!",
                "target.eshop_id": "12345678-1234-1234-1234-1234567890ab"},
}


def start_standin(kind: str, latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/standin_server.py"), kind, "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )
    url = process.stdout.readline().strip()  # type: ignore[union-attr]
    return process, url


def baseline_rate(kind: str, url: str, clients: int, seconds: float) -> float:
    """Requests/s the stand-in answers when hammered alone (a cheap request of its own kind)."""
    body = {"http": None, "parcellab": None, "foxdeli": None}[kind]
    path = {"http": "/orders/x/1", "parcellab": "/v4/track/orders/", "foxdeli": "/tracking/api/v1/order/none"}[kind]
    method = "PUT" if kind != "foxdeli" else "GET"
    count = [0] * clients
    stop = time.monotonic() + seconds

    def client(slot: int) -> None:
        with requests.Session() as http:
            while time.monotonic() < stop:
                http.request(method, url + path, json=body or {}, timeout=10)
                count[slot] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - started)


def queue_orders(db_path: str, count: int) -> None:
    db = connect(db_path)
    migrate(db)
    add_shop(db, SHOP, "config")
    for n in range(count):
        order = dict(SAMPLE, id=SAMPLE["id"] + n, name=f"#B{n}", order_number=10000 + n,
                     updated_at="2026-11-25T10:00:00-00:00", cancelled_at=None, cancel_reason=None,
                     financial_status="paid", test=False)
        body = json.dumps(order).encode()
        save_event(db, NewEvent(shop=SHOP, topic="orders/create", dedupe_key=str(uuid.uuid4()), body=body))
    db.close()


def connector_rate(kind: str, url: str, orders: int, concurrency: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        queue_orders(db_path, orders)
        overrides = {"database.path": db_path, "target.kind": kind, "target.base_url": url, "target.all_shops": True,
                     "worker.concurrency": concurrency, "worker.batch_size": 500,
                     "worker.poll_interval_s": 0.01, **TARGET_SETTINGS[kind]}
        settings = load_settings(env={}, overrides=overrides)
        started = time.monotonic()
        stats = Worker(settings).run(once=True)
        elapsed = time.monotonic() - started
        synced = connect(db_path).execute("SELECT count(*) FROM orders WHERE status = 'synced'").fetchone()[0]
    return stats.delivered / elapsed, synced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--targets", default="parcellab,foxdeli")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    for kind in args.targets.split(","):
        for latency in (0.0, 0.05):
            process, url = start_standin(kind, latency)
            try:
                base = baseline_rate(kind, url, args.concurrency, args.baseline_seconds)
                rate, synced = connector_rate(kind, url, args.orders, args.concurrency)
            finally:
                process.terminate()
                process.wait()
            goal = 300 if latency == 0 else 150
            rows.append((kind, f"{latency * 1000:.0f} ms", base, rate, rate / base, goal, synced))
            print(f"{kind:10} latency {latency * 1000:3.0f} ms: stand-in alone {base:7.0f} req/s, "
                  f"connector {rate:6.0f} orders/s ({rate / base:.2f} of stand-in), goal {goal}: "
                  f"{'met' if rate >= goal else 'MISSED'}; {synced}/{args.orders} synced", flush=True)
    print("\n| target | added latency | stand-in alone (req/s) | connector (orders/s) | ratio | goal | synced |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, latency, base, rate, ratio, goal, synced in rows:
        print(f"| {kind} | {latency} | {base:.0f} | {rate:.0f} | {ratio:.2f} | ≥ {goal} | {synced}/{args.orders} |")


if __name__ == "__main__":
    main()
