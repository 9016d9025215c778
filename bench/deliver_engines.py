"""Delivery on each engine, and across worker processes on PostgreSQL (``bench/deliver.py``
measures CPU per order against another checkout; this one, SQLite beside PostgreSQL).

    python bench/deliver_engines.py [--orders 2000] [--concurrency 16] [--targets parcellab,foxdeli]
                                    [--engines sqlite,postgres] [--rounds 3] [--processes 1,2,4]

Part 1, for each target and each added latency (0 and 50 ms per request), in the same run:
  * baseline — the stand-in's own request rate, driven alone by the same number of concurrent
    clients (what the stand-in can take at most);
  * connector — N distinct orders stored as the webhook endpoint stores them, then delivered by
    one worker process (``Worker.run(once=True)``, worker.concurrency threads), once per engine
    per round, the engines interleaved round by round; medians, and PostgreSQL beside SQLite.
Goals: ≥ 300 orders/s with no added latency, ≥ 150 orders/s at 50 ms.

Part 2 (PostgreSQL): the same orders delivered by 1, 2 and 4 worker processes on one database
(no added latency, the first target), interleaved round by round: each ratio is to one process
in the same round. Each process runs as ``connector worker`` does (not ``--once``), is started
and connected before the clock starts, and is stopped once every order is synced. Beside each
rate: the worker processes' CPU per order (from the start, every thread) and how many database
sessions wait on a lock, sampled every 20 ms — so a run that does not grow shows whether it
stalls on a lock or has run out of cores. Worker CPU never includes the database server's.

The stand-in runs in its own process; PostgreSQL is a throwaway server (the tests'
``tests/pg_server.py``) with production durability: fsync on, every commit flushed, as the
connector's sessions require.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deliver import TARGET_SETTINGS, baseline_rate, start_standin
from connector.config import load_settings
from connector.store.db import close_shared_dbs, connect, write_transaction
from connector.store.events import NewEvent, save_event
from connector.store.migrations import migrate
from connector.store.shops import add_shop
from connector.worker.loop import Worker

ROOT = Path(__file__).resolve().parent.parent

SHOP = "bench-shop.myshopify.com"
SAMPLE = json.loads((ROOT / "tests/fixtures/orders_create.shopify-docs-sample.exact-ids.json").read_text())
# One worker process of part 2, as ``connector worker`` runs: connects, says it is ready, waits
# for "go", delivers until SIGTERM (the bench sends it once every order is synced).
WORKER = r"""
import json, signal, sys, time
from connector.config import load_settings
from connector.store.db import db_for
from connector.worker.loop import Worker
settings = load_settings(env={}, overrides=json.loads(sys.argv[1]))
worker = Worker(settings)
signal.signal(signal.SIGTERM, lambda *_: worker.stop())
db_for(settings).execute("SELECT 1")  # connected before the start
print("ready", flush=True)
sys.stdin.readline()
cpu = time.process_time()  # every thread's CPU from here: the start-up is not the delivery's
stats = worker.run()
print(json.dumps({"delivered": stats.delivered, "cpu_s": time.process_time() - cpu}), flush=True)
"""


class Stores:
    """A fresh store per run: a SQLite file in a temp dir, or a database on the bench's server."""

    def __init__(self, engines: list[str], workdir: Path) -> None:
        self.workdir, self.server = workdir, None
        if "postgres" in engines:
            from tests.pg_server import DURABLE, PgServer, find_bindir

            bindir = find_bindir()
            assert bindir, "PostgreSQL's server binaries are needed (apt-get install postgresql)"
            self.server = PgServer.start(bindir, DURABLE)

    def new(self, engine: str) -> tuple[str, dict[str, Any]]:
        if engine == "postgres":
            url = self.server.new_database()  # type: ignore[union-attr]
            return url, {"database.url": url}
        path = str(self.workdir / f"{uuid.uuid4().hex}.db")
        return path, {"database.path": path}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def queue_orders(location: str, count: int) -> None:
    db = connect(location)
    migrate(db)
    add_shop(db, SHOP, "config")
    with write_transaction(db):
        for n in range(count):
            # The gid too: it is the order's exact id (Foxdeli's externalIdentifier), and wins over "id".
            order = dict(SAMPLE, id=SAMPLE["id"] + n, admin_graphql_api_id=f"gid://shopify/Order/{SAMPLE['id'] + n}",
                         name=f"#B{n}", order_number=10000 + n,
                         updated_at="2026-11-25T10:00:00-00:00", cancelled_at=None, cancel_reason=None,
                         financial_status="paid", test=False)
            save_event(db, NewEvent(shop=SHOP, topic="orders/create", dedupe_key=str(uuid.uuid4()),
                                    body=json.dumps(order).encode()))
    db.close()


def synced_count(location: str) -> int:
    db = connect(location)
    try:
        return int(db.execute("SELECT count(*) FROM orders WHERE status = 'synced'").fetchone()[0])
    finally:
        db.close()


def worker_overrides(store: dict[str, Any], kind: str, url: str, concurrency: int) -> dict[str, Any]:
    return {**store, "target.kind": kind, "target.base_url": url, "target.all_shops": True,
            "worker.concurrency": concurrency, "worker.batch_size": 500, "worker.poll_interval_s": 0.01,
            "worker.metrics_port": 0,
            **TARGET_SETTINGS[kind]}


def connector_rate(stores: Stores, engine: str, kind: str, url: str, orders: int,
                   concurrency: int) -> tuple[float, int, float]:
    """One worker process (this one) delivering ``orders`` queued orders: orders/s, synced, and
    this process's CPU ms per order (the database server's own CPU not included)."""
    location, store = stores.new(engine)
    queue_orders(location, orders)
    settings = load_settings(env={}, overrides=worker_overrides(store, kind, url, concurrency))
    started, cpu = time.monotonic(), time.process_time()
    stats = Worker(settings).run(once=True)
    elapsed, cpu_s = time.monotonic() - started, time.process_time() - cpu
    close_shared_dbs()  # this run's pool (a new database per run)
    return stats.delivered / elapsed, synced_count(location), cpu_s * 1000 / max(1, stats.delivered)


class LockWaits:
    """Samples the database's sessions every 20 ms while worker processes run: how many wait on
    a lock (row, advisory or table lock: ``wait_event_type = 'Lock'``), on average, and for
    which statement — a run that stalls on a lock shows it here."""

    def __init__(self, location: str) -> None:
        self.location, self.samples, self.waiting = location, 0, 0
        self.statements: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.location, autocommit=True) as conn:
            while not self._stop.wait(0.02):
                rows = conn.execute(
                    "SELECT left(query, 60) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'").fetchall()
                self.samples += 1
                self.waiting += len(rows)
                for (query,) in rows:
                    self.statements[query] = self.statements.get(query, 0) + 1

    def summary(self) -> str:
        average = self.waiting / max(1, self.samples)
        top = max(self.statements, key=self.statements.get, default="")  # type: ignore[arg-type]
        return f"{average:.2f}" + (f" (mostly: {top})" if top else "")


def processes_rate(stores: Stores, processes: int, kind: str, url: str, orders: int,
                   concurrency: int, poll_s: float) -> tuple[float, int, float, str]:
    """``processes`` worker processes on one PostgreSQL database: orders/s, synced, the worker
    processes' CPU ms per order, and the sessions waiting on a lock (average)."""
    location, store = stores.new("postgres")
    queue_orders(location, orders)
    overrides = json.dumps({**worker_overrides(store, kind, url, concurrency), "worker.poll_interval_s": poll_s})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, overrides], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    for proc in procs:  # every process imported and connected before the clock starts
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "a worker process failed to start"
    with LockWaits(location) as waits:
        started = time.monotonic()
        for proc in procs:
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        deadline = started + 600
        while synced_count(location) < orders and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    for proc in procs:
        proc.terminate()
    reports = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    delivered = sum(r["delivered"] for r in reports)
    cpu_ms = sum(r["cpu_s"] for r in reports) * 1000 / max(1, delivered)
    return delivered / elapsed, synced_count(location), cpu_ms, waits.summary()


def part1(args: argparse.Namespace, stores: Stores, engines: list[str]) -> list[tuple]:
    rows = []
    for kind in args.targets.split(","):
        for latency in (0.0, 0.05):
            process, url = start_standin(kind, latency)
            try:
                base = baseline_rate(kind, url, args.concurrency, args.baseline_seconds)
                rates: dict[str, list[float]] = {e: [] for e in engines}
                synced: dict[str, list[int]] = {e: [] for e in engines}
                cpu: dict[str, list[float]] = {e: [] for e in engines}
                for rnd in range(args.rounds):
                    for engine in engines:
                        rate, done, cpu_ms = connector_rate(stores, engine, kind, url, args.orders, args.concurrency)
                        rates[engine].append(rate)
                        synced[engine].append(done)
                        cpu[engine].append(cpu_ms)
                        print(f"{kind:10} latency {latency * 1000:3.0f} ms round {rnd + 1} {engine:8}: {rate:6.0f} orders/s, "
                              f"{done}/{args.orders} synced, worker CPU {cpu_ms:.1f} ms/order "
                              f"(load {os.getloadavg()[0]:.1f})", flush=True)
            finally:
                process.terminate()
                process.wait()
            goal = 300 if latency == 0 else 150
            for engine in engines:
                rate = statistics.median(rates[engine])
                rows.append((kind, f"{latency * 1000:.0f} ms", engine, base, rate, goal, min(synced[engine]),
                             " / ".join(f"{r:.0f}" for r in rates[engine]), statistics.median(cpu[engine])))
            print(f"{kind:10} latency {latency * 1000:3.0f} ms: stand-in alone {base:7.0f} req/s; medians "
                  + ", ".join(f"{e} {statistics.median(rates[e]):.0f}" for e in engines), flush=True)
    return rows


def part2(args: argparse.Namespace, stores: Stores) -> list[tuple]:
    kind = args.targets.split(",")[0]
    counts = [int(n) for n in args.processes.split(",")]
    process, url = start_standin(kind, 0.0)
    rates: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}
    waits: dict[int, list[str]] = {n: [] for n in counts}
    try:
        for rnd in range(args.rounds):
            for n in counts:
                rate, done, cpu_ms, waiting = processes_rate(stores, n, kind, url, args.orders, args.concurrency, args.poll)
                rates[n].append(rate)
                cpu[n].append(cpu_ms)
                waits[n].append(waiting)
                print(f"postgres {kind} {n} worker process(es) round {rnd + 1}: {rate:6.0f} orders/s, "
                      f"{done}/{args.orders} synced, worker CPU {cpu_ms:.1f} ms/order, sessions waiting on a "
                      f"lock {waiting} (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        process.terminate()
        process.wait()
    base = rates[counts[0]]
    return [(n, statistics.median(rates[n]), statistics.median(r / b for r, b in zip(rates[n], base, strict=True)),
             " / ".join(f"{r:.0f}" for r in rates[n]), statistics.median(cpu[n]),
             max(float(w.split()[0]) for w in waits[n])) for n in counts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--targets", default="parcellab,foxdeli")
    parser.add_argument("--engines", default="sqlite,postgres", help="part 1: the engines, in turn; '' to skip")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", default="1,2,4", help="part 2 (PostgreSQL): worker processes per run; '' to skip")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--poll", type=float, default=1.0,
                        help="part 2: worker.poll_interval_s of the worker processes (default as shipped: idle ones wait "
                             "for LISTEN/NOTIFY)")
    args = parser.parse_args()
    engines = [name for name in args.engines.split(",") if name]  # '' : part 2 only
    print(f"deliver bench: {args.orders} orders, worker.concurrency {args.concurrency}, {args.rounds} rounds, "
          f"{os.cpu_count()} cores, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        stores = Stores(engines + (["postgres"] if args.processes else []), Path(tmp))
        try:
            rows = part1(args, stores, engines) if engines else []
            scaling = part2(args, stores) if args.processes else []
        finally:
            stores.close()
    print("\n| target | added latency | engine | stand-in alone (req/s) | connector (orders/s, median) | per round "
          "| ratio to stand-in | worker CPU per order | goal | synced |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, latency, engine, base, rate, goal, synced, per_round, cpu_ms in rows:
        print(f"| {kind} | {latency} | {engine} | {base:.0f} | {rate:.0f} | {per_round} | {rate / base:.2f} | "
              f"{cpu_ms:.1f} ms | ≥ {goal} | {synced}/{args.orders} |")
    if "sqlite" in engines and "postgres" in engines:
        for kind, latency in dict.fromkeys((r[0], r[1]) for r in rows):
            by = {r[2]: r[4] for r in rows if r[0] == kind and r[1] == latency}
            print(f"{kind} {latency}: postgres / sqlite = {by['postgres'] / by['sqlite']:.2f}")
    if scaling:
        print(f"\n| PostgreSQL, worker processes | orders/s (median) | per round | ratio to {scaling[0][0]} process "
              "(same round, median) | worker CPU per order (median) | sessions waiting on a lock (average, worst round) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for n, rate, ratio, per_round, cpu_ms, waiting in scaling:
            print(f"| {n} | {rate:.0f} | {per_round} | {ratio:.2f} | {cpu_ms:.1f} ms | {waiting:.2f} |")


if __name__ == "__main__":
    main()
