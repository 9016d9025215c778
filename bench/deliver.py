"""Delivery throughput and CPU per order: orders from the store to a target stand-in.

For each target and each added latency (0 and 50 ms per request) it measures, in the same run:
  * the stand-in alone — its request rate, driven alone by the same number of concurrent
    clients with a cheap request of its own kind (what it can take at most); at 50 ms also at
    most concurrency / 50 ms (320 requests/s for 16 deliveries at once);
  * connector — N distinct orders queued in SQLite (as the webhook endpoint stores them), then
    delivered by `Worker.run(once=True)` with worker.concurrency threads, in a child process of
    its own: orders/s, the worker process's CPU (user + system) per delivered order, and the
    requests each delivered order cost at the stand-in (counted there, by method and path).
The bound of a target is then in orders/s: the stand-in's request rate divided by the requests an
order needs (the fewest any build measured made per order: Foxdeli's token is shared, parcelLab
needs one PUT). The stand-in runs in its own process, on the same cores as the worker (its CPU
per order is shown beside the worker's). With ``--baseline-root DIR`` (a checkout of another
commit, e.g. ``git worktree add ../base main``) each measurement is also made with that
checkout's connector, alternating with this one over ``--rounds`` rounds, so every figure
stands beside its baseline of the same run; medians are reported with the spread, and each
build's CPU per order against the baseline both as the ratio of the medians and round by round
(the builds of a round run back to back, so a round's ratio leaves out the machine's drift).

    python bench/deliver.py [--orders 2000] [--concurrency 16] [--targets parcellab,foxdeli,http]
    python bench/deliver.py --baseline-root ../base --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent

SHOP = "bench-shop.myshopify.com"
SAMPLE_PATH = ROOT / "tests/fixtures/orders_create.shopify-docs-sample.exact-ids.json"
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


def served(url: str) -> Counter[str]:
    """The requests the stand-in served so far, by method and path (bench/standin_server.py)."""
    return Counter(requests.get(url + "/__bench/requests", timeout=30).json())


def process_cpu_s(pid: int) -> float:
    """User + system CPU of a process so far (Linux; 0 elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue_orders(db_path: str, count: int, first: int = 0) -> None:
    """``count`` distinct orders as received webhooks (the connector of ``sys.path``), numbered
    from ``first``: each run of a benchmark delivers orders the stand-in has not seen yet (a
    Foxdeli order it has answers 409, and costs a look-up and a PATCH more)."""
    from connector.store.db import connect
    from connector.store.events import NewEvent, save_event
    from connector.store.migrations import migrate
    from connector.store.shops import add_shop

    sample = json.loads(SAMPLE_PATH.read_text())
    db = connect(db_path)
    migrate(db)
    add_shop(db, SHOP, "config")
    for n in range(count):
        number = first + n
        # The gid too: it is the order's exact id (Foxdeli's externalIdentifier), and wins over "id".
        order = dict(sample, id=sample["id"] + number, admin_graphql_api_id=f"gid://shopify/Order/{sample['id'] + number}",
                     name=f"#B{number}", order_number=10000 + number,
                     updated_at="2026-11-25T10:00:00-00:00", cancelled_at=None, cancel_reason=None,
                     financial_status="paid", test=False)
        body = json.dumps(order).encode()
        save_event(db, NewEvent(shop=SHOP, topic="orders/create", dedupe_key=str(uuid.uuid4()), body=body))
    db.close()


def deliver_child(
    kind: str, url: str, orders: int, concurrency: int, first: int = 0, ready: Callable[[], None] | None = None
) -> dict[str, float]:
    """In the child: queue, deliver, and report orders/s and CPU per delivered order (``ready``,
    when given, is called between the two: ``bench/deliver_syscalls.py`` attaches perf then)."""
    from connector.config import load_settings
    from connector.store.db import connect
    from connector.worker.loop import Worker

    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        queue_orders(db_path, orders, first)
        overrides = {"database.path": db_path, "target.kind": kind, "target.base_url": url, "target.all_shops": True,
                     "worker.concurrency": concurrency, "worker.batch_size": 500,
                     "worker.poll_interval_s": 0.01, **TARGET_SETTINGS[kind]}
        settings = load_settings(env={}, overrides=overrides)
        try:  # as `connector worker` does (absent from a checkout older than it)
            from connector.worker.gc_tuning import tune_gc_for_worker
        except ImportError:
            pass
        else:
            tune_gc_for_worker()
        if ready is not None:
            ready()
        cpu_before, started = os.times(), time.monotonic()
        stats = Worker(settings).run(once=True)
        elapsed, cpu_after = time.monotonic() - started, os.times()
        db = connect(db_path)
        synced = db.execute("SELECT count(*) FROM orders WHERE status = 'synced'").fetchone()[0]
        db.close()
    user, system = cpu_after.user - cpu_before.user, cpu_after.system - cpu_before.system
    per_order_ms = 1000 / max(1, stats.delivered)
    return {"rate": stats.delivered / elapsed, "synced": synced, "delivered": stats.delivered,
            "cpu_ms_per_order": (user + system) * per_order_ms, "cores": (user + system) / elapsed,
            "user_ms_per_order": user * per_order_ms, "system_ms_per_order": system * per_order_ms}


def connector_rate(
    root: Path, kind: str, url: str, orders: int, concurrency: int, standin_pid: int, first: int = 0
) -> dict[str, Any]:
    """One measurement in a fresh process whose ``connector`` is the one in ``root`` (orders
    numbered from ``first``), with the requests it made per delivered order and the stand-in's
    CPU per delivered order."""
    env = dict(os.environ, PYTHONPATH=str(root))
    before, standin_before = served(url), process_cpu_s(standin_pid)
    child = json.dumps([str(root), kind, url, orders, concurrency, first])
    answer = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", child],
        env=env, capture_output=True, text=True, check=True,
    )
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    delivered = max(1, result["delivered"])
    made = served(url) - before
    result["requests"] = {what: n / delivered for what, n in sorted(made.items())}
    result["requests_per_order"] = sum(made.values()) / delivered
    result["standin_cpu_ms_per_order"] = (process_cpu_s(standin_pid) - standin_before) / delivered * 1000
    return result


def requests_text(per_order: dict[str, float]) -> str:
    return ", ".join(f"{what} ×{n:.3g}" for what, n in per_order.items())


def spread(values: list[float], digits: int = 0) -> str:
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--targets", default="parcellab,foxdeli")
    parser.add_argument("--latencies", default="0,50", help="added latency per request, ms (default 0,50)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--baseline-root", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                        help="more checkouts in the same alternation (e.g. each commit of a series)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per measurement (default 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, kind, url, orders, concurrency, first = json.loads(args.child)
        sys.path.insert(0, root)
        print(json.dumps(deliver_child(kind, url, orders, concurrency, first)))
        return
    builds = {"this": ROOT} | ({"baseline": args.baseline_root.resolve()} if args.baseline_root else {})
    for spec in args.also:
        name, _, path = spec.partition("=")
        builds[name] = Path(path).resolve()
    print(f"deliver benchmark — {os.cpu_count()} CPUs, load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{args.orders} orders, concurrency {args.concurrency}; builds: "
          + ", ".join(f"{name}={path}" for name, path in builds.items()), flush=True)
    table = []
    for kind in args.targets.split(","):
        for latency_ms in (float(x) for x in args.latencies.split(",")):
            process, url = start_standin(kind, latency_ms / 1000)
            try:
                alone = baseline_rate(kind, url, args.concurrency, args.baseline_seconds)
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
                for rnd in range(args.rounds):
                    names = list(builds)
                    order = names[rnd % len(names):] + names[:rnd % len(names)]  # each build first in turn
                    for name in order:
                        first = sum(len(done) for done in runs.values()) * args.orders  # never seen by the stand-in
                        result = connector_rate(builds[name], kind, url, args.orders, args.concurrency, process.pid, first)
                        runs[name].append(result)
                        print(f"  round {rnd + 1} {kind:9} {latency_ms:3.0f} ms {name:8}: {result['rate']:6.0f} orders/s, "
                              f"{result['cpu_ms_per_order']:.2f} ms CPU/order, {result['cores']:.2f} cores, "
                              f"{result['synced']}/{args.orders} synced; stand-in {result['standin_cpu_ms_per_order']:.2f} "
                              f"ms CPU/order; requests/order {result['requests_per_order']:.3f} "
                              f"({requests_text(result['requests'])}); load {os.getloadavg()[0]:.1f}", flush=True)
            finally:
                process.terminate()
                process.wait()
            per_request = min(alone, args.concurrency / (latency_ms / 1000)) if latency_ms else alone
            needed = min(median(r["requests_per_order"] for r in results) for results in runs.values())
            table.append((kind, latency_ms, per_request, per_request / max(needed, 1e-9), needed, runs))
    print("\n| target | added latency | build | orders/s (median, range) | of bound | requests/order | CPU ms/order "
          "| stand-in CPU ms/order | synced |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, latency_ms, per_request, bound, needed, runs in table:
        print(f"| {kind} | {latency_ms:.0f} ms | stand-in alone | {per_request:.0f} requests/s | bound: "
              f"{bound:.0f} orders/s | {needed:.3f} needed | | | |")
        for name, results in runs.items():
            rates = [r["rate"] for r in results]
            cpus = [r["cpu_ms_per_order"] for r in results]
            synced = min(int(r["synced"]) for r in results)
            made = median(r["requests_per_order"] for r in results)
            standin = median(r["standin_cpu_ms_per_order"] for r in results)
            print(f"| {kind} | {latency_ms:.0f} ms | {name} | {spread(rates)} | {median(rates) / bound:.2f} of {bound:.0f} "
                  f"| {made:.3f} | {spread(cpus, 2)} | {standin:.2f} | {synced}/{args.orders} |")
        if "baseline" in runs:
            base_cpu = median(r["cpu_ms_per_order"] for r in runs["baseline"])
            for name in (n for n in runs if n != "baseline"):
                ratio = median(r["cpu_ms_per_order"] for r in runs[name]) / base_cpu
                # Each round runs every build back to back: its own ratio leaves out how the
                # shared machine's speed drifted from one round to the next.
                paired = [r["cpu_ms_per_order"] / b["cpu_ms_per_order"] for r, b in zip(runs[name], runs["baseline"], strict=True)]
                print(f"| {kind} | {latency_ms:.0f} ms | {name} / baseline CPU per order | | | | **{ratio:.2f}** "
                      f"(per round {' '.join(f'{x:.2f}' for x in paired)}, median {median(paired):.2f}) | | |")
    print(f"\nload avg at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
