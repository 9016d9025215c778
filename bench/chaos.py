"""Chaos run: the real processes under fire, then proof that nothing was lost, doubled or stale.

    python bench/chaos.py --webhooks 5000 --orders 300 --min-faults 20

Starts, each as its own process: the chaos parcelLab stand-in (``bench/chaos_standin.py``),
``connector serve --workers 3`` (gunicorn) and two ``connector worker``. A driver posts signed
webhooks for a few hundred orders (creates, many updates, fulfillments, cancellations, exact
duplicates, out-of-order and late "stale" deliveries) and retries any non-200 as Shopify does,
so *accepted* means "got 200". Meanwhile three chaos lanes, at random moments:

- target lane: the stand-in answers 500, or 429 with Retry-After, or hangs past the client
  timeout, or refuses connections, for a while;
- process lane: SIGKILL one worker, restart it;
- storage lane: hold SQLite's write lock (``BEGIN IMMEDIATE`` from another connection) for a
  few seconds — longer than the processes' busy timeout, so intake answers 503 and workers see
  "database is locked".

With ``--engine postgres``: a throwaway PostgreSQL server, two "hosts" (each a gunicorn and its
workers, the webhooks spread over both), the lock lane locking every table, and two more lanes:
a whole host SIGKILLed and brought back, and the server stopped as by a crash and started again.
Every lane spreads its quota over the driver's progress (see :func:`chaos_lanes`).

Then faults stop, the workers drain, and the run checks: every accepted webhook is stored;
every order is at the target once, in its newest state (version tag and cancellation); every
tracking number exactly once, on its own order; no event left ``new``/``queued``/``held``; every
dead event has a reason; the target never moved backwards at any moment; no process crashed
by itself. Exit status 0 only when all of that holds.

``run_chaos`` is also called by ``tests/test_chaos.py`` with a smaller workload.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.shopify.verify import sign_body
from connector.store.journal import journal_backlog
from tests.processes import connector_env, free_port, start_connector, wait_http

ROOT = Path(__file__).resolve().parent.parent

SECRET = "chaos-secret-0123456789"
SHOP = "chaos-shop.myshopify.com"
TOKEN = "chaos-token"
ACCOUNT = 4242
SAMPLE = ROOT / "tests" / "fixtures" / "orders_create.shopify-docs-sample.exact-ids.json"
BASE_ID = 7_300_000_000_000_000_000  # > 2**53: ids must stay exact all the way
TARGET_KINDS = ("500", "429", "timeout", "refuse")
FAULT_KINDS = ("worker_kill", *(f"target_{k}" for k in TARGET_KINDS), "db_lock")
# On PostgreSQL, two "hosts" (each a gunicorn and its workers) and two more faults.
PG_FAULT_KINDS = (*FAULT_KINDS, "host_kill", "pg_restart")
QUOTA_MARGIN = 1.25  # faults of each kind while the driver runs, per one of min_faults


@dataclass
class ChaosConfig:
    webhooks: int = 5000
    orders: int = 300
    min_faults: int = 20
    duration_s: float = 150.0  # the driver spreads the webhooks over about this long
    senders: int = 8
    web_workers: int = 3
    workers: int = 2
    seed: int = 7
    drain_timeout_s: float = 240.0
    max_chaos_s: float = 900.0
    client_timeout_s: float = 1.5  # target.timeout_s of the workers
    busy_timeout_s: float = 2.0  # database.busy_timeout_s of every connector process
    lease_s: float = 8.0
    workdir: str | None = None
    verbose: bool = True
    engine: str = "sqlite"  # postgres: a throwaway server, two hosts, host kills and server restarts
    hosts: int = 1


@dataclass
class Webhook:
    topic: str
    body: bytes
    webhook_id: str
    order: int
    kind: str  # order | fulfillment
    version: int = 0  # order version (order webhooks)
    cancelled: bool = False
    trackings: tuple[str, ...] = ()
    accepted: bool = False
    duplicate_send: bool = False
    late: bool = False


# -- workload ---------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def plan_workload(n_webhooks: int, n_orders: int, rng: random.Random) -> list[Webhook]:
    """Per order a history (create, updates, fulfillments, maybe a cancellation), interleaved,
    with out-of-order moves, late stale deliveries and exact duplicates mixed in."""
    sample = json.loads(SAMPLE.read_bytes())
    per_order = max(3, round(n_webhooks * 0.88 / n_orders))
    base = datetime(2026, 3, 1, tzinfo=UTC)
    histories: list[list[Webhook]] = []
    for idx in range(n_orders):
        oid = BASE_ID + idx * 7919
        created = base + timedelta(minutes=idx)
        order = copy.deepcopy(sample)
        order.update(
            id=oid, name=f"#{1000 + idx}", order_number=1000 + idx, number=idx, email=f"buyer{idx}@example.com",
            contact_email=f"buyer{idx}@example.com", cancelled_at=None, cancel_reason=None, closed_at=None,
            created_at=_iso(created), test=False, fulfillments=[], fulfillment_status=None,
        )
        for key in ("shipping_address", "billing_address"):
            order[key] = {**order[key], "country_code": "DE", "country": "Germany", "zip": "10115", "city": "Berlin"}
        history: list[Webhook] = []
        version = 0
        fulfillments: list[dict[str, Any]] = []
        cancel = rng.random() < 0.15
        n_fulfill = rng.choice((0, 1, 1, 2)) if not cancel else 0
        steps = max(1, per_order - 2 * n_fulfill - (1 if cancel else 0))
        fulfil_at = sorted(rng.sample(range(1, steps + 1), min(n_fulfill, steps))) if n_fulfill else []

        def snapshot(topic: str) -> None:
            nonlocal version
            version += 1
            order["updated_at"] = _iso(created + timedelta(seconds=version))
            order["tags"] = f"v:{version}, chaos"
            order["note"] = f"version {version}"
            order["fulfillments"] = copy.deepcopy(fulfillments)
            numbers = tuple(f["tracking_number"] for f in fulfillments)
            history.append(Webhook(topic, json.dumps(order).encode(), str(uuid.uuid4()), idx, "order",
                                   version, bool(order["cancelled_at"]), numbers))

        snapshot("orders/create")
        for step in range(1, steps):
            if step in fulfil_at:
                k = len(fulfillments) + 1
                number = f"1Z{idx:05d}{k:02d}CH"
                when = _iso(created + timedelta(seconds=version + 1))
                fulfillment = {
                    "id": BASE_ID + 5_000_000 + idx * 10 + k, "order_id": oid, "name": f"#{1000 + idx}.{k}",
                    "status": "success", "created_at": when, "updated_at": when, "tracking_company": "UPS",
                    "tracking_number": number, "tracking_numbers": [number],
                    "tracking_urls": [f"https://www.ups.com/track?tracknum={number}"],
                    "destination": order["shipping_address"], "email": order["email"],
                    "line_items": [order["line_items"][0]], "shipment_status": None,
                }
                fulfillments.append(fulfillment)
                history.append(Webhook("fulfillments/create", json.dumps(fulfillment).encode(), str(uuid.uuid4()),
                                       idx, "fulfillment", trackings=(number,)))
                order["fulfillment_status"] = "partial" if k < n_fulfill else "fulfilled"
                snapshot("orders/fulfilled" if k == n_fulfill else "orders/partially_fulfilled")
            else:
                snapshot(rng.choice(("orders/updated", "orders/updated", "orders/paid")))
        if cancel:
            order["cancelled_at"] = _iso(created + timedelta(seconds=version + 1))
            order["cancel_reason"] = rng.choice(("customer", "inventory", "fraud"))
            snapshot("orders/cancelled")
        histories.append(history)

    # Interleave the histories (each order's own events in time order)...
    cursors = [0] * n_orders
    remaining = list(range(n_orders))
    plan: list[Webhook] = []
    while remaining:
        i = rng.choice(remaining)
        plan.append(histories[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] == len(histories[i]):
            remaining.remove(i)
    # ...then move some later: a little (out of order) or a lot (a late, stale retry).
    for _ in range(int(len(plan) * 0.06)):
        pos = rng.randrange(len(plan))
        hook = plan.pop(pos)
        late = rng.random() < 0.4
        hook.late = late
        plan.insert(min(len(plan), pos + (rng.randint(200, 2000) if late else rng.randint(1, 40))), hook)
    # Exact duplicates (same webhook id), re-sent a little later, as Shopify does.
    for _ in range(max(0, n_webhooks - len(plan))):
        pos = rng.randrange(len(plan))
        original = plan[pos]
        dup = copy.copy(original)
        dup.duplicate_send = True
        plan.insert(min(len(plan), pos + rng.randint(1, 300)), dup)
    return plan


# -- processes --------------------------------------------------------------------------------
class Cluster:
    """The stand-in, gunicorn and the workers, with restart and crash accounting."""

    def __init__(self, cfg: ChaosConfig, workdir: Path) -> None:
        self.cfg, self.dir = cfg, workdir
        self.db_path = workdir / "chaos.db"
        self.pg = None
        store: dict[str, Any] = {"database_path": self.db_path}
        if cfg.engine == "postgres":
            from tests.pg_server import PgServer, find_bindir

            bindir = find_bindir()
            assert bindir, "PostgreSQL's server binaries are needed (apt-get install postgresql)"
            self.pg = PgServer.start(bindir)
            self.db_url = self.pg.new_database(migrated=False)
            store = {"database_url": self.db_url}
        (workdir / "config.toml").write_text(f'[shops."{SHOP}"]\n')
        with (workdir / "standin.log").open("ab") as log:  # the stand-in writes to its own copy
            self.standin = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "chaos_standin.py"), "--token", TOKEN,
                 "--hang", str(cfg.client_timeout_s + 1.0)],
                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            )
        self.target_url = self.standin.stdout.readline().strip()  # type: ignore[union-attr]
        assert self.target_url.startswith("http://"), "stand-in did not start"
        self.webs: list[subprocess.Popen] = []
        self.urls: list[str] = []
        self.env = connector_env(
            shopify_api_secret=SECRET, **store, database_busy_timeout_s=cfg.busy_timeout_s,
            target_kind="parcellab", target_all_shops="1", target_base_url=self.target_url, target_token=TOKEN, target_account=ACCOUNT,
            target_timeout_s=cfg.client_timeout_s, retry_first_delay_s=0.2, retry_max_delay_s=2,
            retry_in_process_window_s=3, retry_in_process_attempts=3, worker_poll_interval_s=0.2,
            worker_lease_s=cfg.lease_s, worker_concurrency=4,
        )
        for host in range(cfg.hosts):
            self.urls.append(f"http://127.0.0.1:{free_port()}")
            self.webs.append(self._start_web(host))
        for url in self.urls:
            wait_http(f"{url}/healthz", timeout=30)
        self.url = self.urls[0]
        self.web = self.webs[0]
        self.workers: list[subprocess.Popen] = []
        self.worker_lock = threading.Lock()
        self.unexpected_exits: list[str] = []
        self.killing: set[int] = set()
        for n in range(cfg.workers * cfg.hosts):
            self.workers.append(self._start_worker(n))

    def _start_web(self, host: int) -> subprocess.Popen:
        bind = self.urls[host].removeprefix("http://")
        return start_connector(["serve", "--bind", bind, "--workers", str(self.cfg.web_workers)],
                               self.env, self.dir, self.dir / f"serve{host}.log")

    def _start_worker(self, n: int) -> subprocess.Popen:
        return start_connector(["worker"], self.env, self.dir, self.dir / f"worker{n}.log")

    def kill_host(self, rng: random.Random) -> None:
        """SIGKILL a whole host — its web server and its workers — then bring it back."""
        host = rng.randrange(self.cfg.hosts)
        mine = [host * self.cfg.workers + k for k in range(self.cfg.workers)]
        with self.worker_lock:
            self.killing.update(mine)
            self.killing.add(-1 - host)
            for proc in [self.webs[host], *(self.workers[n] for n in mine)]:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        time.sleep(rng.uniform(0.2, 1.0))
        with self.worker_lock:
            self.webs[host] = self._start_web(host)
            for n in mine:
                self.workers[n] = self._start_worker(n)
        wait_http(f"{self.urls[host]}/healthz", timeout=30)
        with self.worker_lock:
            self.killing.difference_update(mine)
            self.killing.discard(-1 - host)

    def kill_worker(self, rng: random.Random) -> bool:
        """SIGKILL one worker and start it again; False when every worker is a killed host's."""
        with self.worker_lock:
            # Not one of a host being killed (that lane restarts it: two restarts would leave
            # one process untracked, or a killed one counted as a crash).
            n = rng.choice([k for k in range(len(self.workers)) if k not in self.killing] or [-1])
            if n < 0:
                return False
            proc = self.workers[n]
            self.killing.add(n)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        time.sleep(rng.uniform(0.0, 1.0))
        with self.worker_lock:
            self.workers[n] = self._start_worker(n)
            self.killing.discard(n)
        return True

    def check_alive(self) -> None:
        """A process that exits without being killed is a crash: count it, restart it."""
        with self.worker_lock:
            for n, proc in enumerate(self.workers):
                if n not in self.killing and proc.poll() is not None:
                    self.unexpected_exits.append(f"worker{n} exited with {proc.returncode}")
                    self.workers[n] = self._start_worker(n)
            for host, web in enumerate(self.webs):
                if -1 - host not in self.killing and web.poll() is not None:
                    self.unexpected_exits.append(f"gunicorn {host} exited with {web.returncode}")
                    raise RuntimeError("gunicorn died; see serve*.log")

    def chaos(self, mode: str, seconds: float) -> None:
        requests.post(f"{self.target_url}/_chaos", json={"mode": mode, "seconds": seconds}, timeout=5).raise_for_status()

    def target_state(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            try:
                return requests.get(f"{self.target_url}/_state", timeout=30).json()
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in [*self.workers, *self.webs, self.standin]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [*self.workers, *self.webs, self.standin]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.standin.stdout:
            self.standin.stdout.close()

    def close_store(self) -> None:
        if self.pg is not None:
            self.pg.stop()

    def store(self) -> Any:
        """A connection to the store for the checks: rows as dicts (also indexable by position)."""
        return _Store(self)


# -- driver -----------------------------------------------------------------------------------
@dataclass
class DriverStats:
    sent: int = 0  # POSTs, including retries
    accepted: int = 0
    duplicates: int = 0  # answered duplicate: true
    retried: Counter = field(default_factory=Counter)  # non-200 answers by status / error
    given_up: int = 0
    given_up_hooks: list[dict[str, Any]] = field(default_factory=list)  # which, and what they last heard
    taken: int = 0  # webhooks a sender has started on (the run's progress, for the chaos lanes)
    planned: int = 1


def drive(cluster: Cluster, plan: list[Webhook], cfg: ChaosConfig, stats: DriverStats) -> None:
    urls = [f"{url}/webhooks/shopify" for url in cluster.urls]  # spread over the hosts
    rate = len(plan) / cfg.duration_s
    start = time.monotonic()
    work: queue.Queue[tuple[int, Webhook] | None] = queue.Queue()
    for item in enumerate(plan):
        work.put(item)
    lock = threading.Lock()
    stats.planned = max(1, len(plan))

    def sender() -> None:
        session = requests.Session()
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            i, hook = item
            with lock:
                stats.taken += 1
            url = urls[i % len(urls)]
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            headers = {
                "Content-Type": "application/json", "X-Shopify-Topic": hook.topic, "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Hmac-Sha256": sign_body(hook.body, SECRET), "X-Shopify-Webhook-Id": hook.webhook_id,
                "X-Shopify-API-Version": "2026-10", "X-Shopify-Triggered-At": _iso(datetime.now(UTC)),
            }
            backoff = 0.1
            give_up_at = time.monotonic() + 300
            heard: list[str] = []
            while True:
                try:
                    response = session.post(url, data=hook.body, headers=headers, timeout=10)
                    status = response.status_code
                except requests.RequestException as exc:
                    status, response = type(exc).__name__, None
                with lock:
                    stats.sent += 1
                if status == 200:
                    with lock:
                        stats.accepted += 1
                        stats.duplicates += bool(response.json().get("duplicate"))  # type: ignore[union-attr]
                    hook.accepted = True
                    break
                with lock:
                    stats.retried[str(status)] += 1
                heard.append(f"{time.monotonic() - start:.0f}s {url.split('/')[2]} {status}")
                if time.monotonic() > give_up_at:
                    with lock:
                        stats.given_up += 1
                        stats.given_up_hooks.append({"webhook_id": hook.webhook_id, "topic": hook.topic,
                                                     "tries": len(heard), "first": heard[:3], "last": heard[-8:]})
                    break
                time.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(2.0, backoff * 2)
                url = urls[(urls.index(url) + 1) % len(urls)]  # the load balancer tries another host

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(cfg.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- chaos lanes ------------------------------------------------------------------------------
def chaos_lanes(cluster: Cluster, cfg: ChaosConfig, rng: random.Random, faults: Counter, stats: DriverStats,
                driver_done: threading.Event, stop: threading.Event) -> list[threading.Thread]:
    """One thread per kind of fault. Each spreads its quota over the driver's progress (webhooks
    taken), not over the clock: a loaded machine slows the driver down, and a clock-paced lane
    then crowds its faults into the first part (or, slowed itself, misses its quota). About
    ``QUOTA_MARGIN`` × ``min_faults`` of each kind land while webhooks are sent; a lane that is
    short when the driver is done tops up at a few seconds a fault."""
    started = time.monotonic()
    spread = max(10.0, cfg.duration_s)
    goal = cfg.min_faults * QUOTA_MARGIN

    def enough(kinds: tuple[str, ...]) -> bool:
        return all(faults[k] >= cfg.min_faults for k in kinds)

    def should_stop(kinds: tuple[str, ...]) -> bool:
        if stop.is_set() or time.monotonic() - started > cfg.max_chaos_s:
            return True
        return driver_done.is_set() and enough(kinds)

    def wait_turn(done: float, top_up_s: float) -> bool:
        """Until the driver has come far enough for fault number ``done + 1``; False: stop."""
        due = (done + rng.uniform(0.2, 1.0)) / goal
        while not stop.is_set():
            if driver_done.is_set():
                return not stop.wait(rng.uniform(0.5, 1.5) * top_up_s)
            if stats.taken / stats.planned >= due:
                return True
            stop.wait(0.1)
        return False

    def target_lane() -> None:
        kinds = tuple(f"target_{k}" for k in TARGET_KINDS)
        cycle = spread / (goal * len(TARGET_KINDS))
        while not should_stop(kinds):
            if not wait_turn(sum(faults[k] for k in kinds) / len(TARGET_KINDS), cycle):
                break
            kind = rng.choice([k for k in TARGET_KINDS if faults[f"target_{k}"] == min(faults[f"target_{x}"] for x in TARGET_KINDS)])
            seconds = rng.uniform(0.3, max(0.4, cycle * 0.6))
            try:
                cluster.chaos(kind, seconds)
                faults[f"target_{kind}"] += 1
            except requests.RequestException:
                pass  # still refusing from the previous fault
            stop.wait(seconds + (0.3 if kind == "refuse" else 0))

    def kill_lane() -> None:
        while not should_stop(("worker_kill",)) and wait_turn(faults["worker_kill"], 2.0):
            if cluster.kill_worker(rng):
                faults["worker_kill"] += 1

    def lock_lane() -> None:
        while not should_stop(("db_lock",)) and wait_turn(faults["db_lock"], 2.0):
            hold = rng.uniform(0.5, cfg.busy_timeout_s * 1.8)  # often longer than the busy timeout
            try:
                with hold_write_lock(cluster):
                    faults["db_lock"] += 1
                    time.sleep(hold)
            except Exception as exc:  # noqa: BLE001 - the server restarting under the lock lane too
                print(f"chaos: lock lane: {exc}", flush=True)

    def host_lane() -> None:
        while not should_stop(("host_kill",)) and wait_turn(faults["host_kill"], 2.0):
            try:
                cluster.kill_host(rng)
            except TimeoutError as exc:  # came back slowly (the server restarting too): go on
                print(f"chaos: host lane: {exc}", flush=True)
            faults["host_kill"] += 1

    def restart_lane() -> None:
        while not should_stop(("pg_restart",)) and wait_turn(faults["pg_restart"], 3.0):
            cluster.pg.restart()  # immediate: every connection cut, as by a crash
            faults["pg_restart"] += 1

    def watchdog() -> None:
        while not stop.is_set():
            cluster.check_alive()
            stop.wait(0.5)

    lanes = [target_lane, kill_lane, lock_lane] + ([host_lane, restart_lane] if cluster.pg is not None else [])
    threads = [threading.Thread(target=f, daemon=True, name=f.__name__) for f in lanes]
    for t in threads:
        t.start()
    threading.Thread(target=watchdog, daemon=True).start()
    return threads


class hold_write_lock:
    """Another process holds the store's write lock: SQLite's, or every table on PostgreSQL."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def __enter__(self) -> None:
        if self.cluster.pg is None:
            self.conn = sqlite3.connect(str(self.cluster.db_path), timeout=30, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(self.cluster.db_url, connect_timeout=5)
            self.conn.execute("LOCK TABLE events, orders, order_parts, attempts, failures, app_state IN EXCLUSIVE MODE")

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


class _Row(dict):
    def __getitem__(self, key: Any) -> Any:
        return list(self.values())[key] if isinstance(key, int) else super().__getitem__(key)


class _Store:
    """The checks' reads, on either engine."""

    def __init__(self, cluster: Cluster) -> None:
        from connector.store.db import connect

        self.db = connect(cluster.db_url if cluster.pg is not None else str(cluster.db_path))

    def execute(self, sql: str, params: tuple = ()) -> _Rows:
        return _Rows([_Row(r) for r in self.db.query_rows(sql, params)])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Rows(list):
    def fetchone(self) -> Any:
        return self[0] if self else None


# -- checks -----------------------------------------------------------------------------------
def _db(cluster: Cluster) -> _Store:
    return cluster.store()


def drain(cluster: Cluster, cfg: ChaosConfig) -> float:
    started = time.monotonic()
    while time.monotonic() - started < cfg.drain_timeout_s:
        cluster.check_alive()
        with _db(cluster) as conn:
            open_events = conn.execute("SELECT count(*) FROM events WHERE state IN ('new', 'queued', 'held')").fetchone()[0]
            busy = conn.execute("SELECT count(*) FROM orders WHERE has_work = 1 AND status != 'dead'").fetchone()[0]
        # Webhooks answered from the intake journal (SQLite) and not filed yet are open too.
        unfiled = journal_backlog(str(cluster.db_path)).files if cluster.pg is None else 0
        if open_events == 0 and busy == 0 and unfiled == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return -1.0


def verify(cluster: Cluster, plan: list[Webhook]) -> dict[str, Any]:
    state = cluster.target_state()
    conn = _db(cluster)
    stored = {(r["topic"], r["dedupe_key"]) for r in conn.execute("SELECT topic, dedupe_key FROM events")}
    accepted = [h for h in plan if h.accepted]
    not_stored = [h for h in accepted if (h.topic, f"webhook:{h.webhook_id}") not in stored]

    newest: dict[int, Webhook] = {}
    trackings: dict[str, int] = {}
    for hook in accepted:
        if hook.kind == "order" and (hook.order not in newest or hook.version > newest[hook.order].version):
            newest[hook.order] = hook
        for number in hook.trackings:
            trackings[number] = hook.order
    touched = {h.order for h in accepted}

    from bench.chaos_standin import order_version

    target_orders = state["orders"]
    missing_orders, stale = [], []
    for idx in sorted(touched):
        key = f"{ACCOUNT}|#{1000 + idx}"
        held = target_orders.get(key)
        if held is None:
            missing_orders.append(key)
            continue
        want = newest.get(idx)
        if want is None:
            continue  # only a fulfillment was accepted for this order: presence is all we can ask
        if order_version(held) != want.version or (held.get("order_status") == "Cancelled") != want.cancelled:
            stale.append({"order": key, "target_version": order_version(held), "newest": want.version,
                          "target_status": held.get("order_status"), "cancelled": want.cancelled})
    expected_keys = {f"{ACCOUNT}|#{1000 + idx}" for idx in touched}
    extra_orders = sorted(set(target_orders) - expected_keys)

    seen = Counter(t["tracking_number"] for t in state["trackings"])
    tracking_owner = {t["tracking_number"]: t["order"] for t in state["trackings"]}
    missing_trackings = sorted(n for n in trackings if n not in seen)
    duplicated_trackings = sorted(n for n, c in seen.items() if c > 1 or n not in trackings)
    wrong_owner = sorted(n for n, idx in trackings.items()
                         if n in tracking_owner and tracking_owner[n] != [ACCOUNT, f"#{1000 + idx}"])

    events = {r["state"]: r["n"] for r in conn.execute("SELECT state, count(*) AS n FROM events GROUP BY state")}
    open_events = sum(events.get(s, 0) for s in ("new", "queued", "held"))
    dead_without_reason = conn.execute(
        "SELECT count(*) FROM events WHERE state = 'dead' AND (reason IS NULL OR reason = '')").fetchone()[0]
    dead_orders = conn.execute("SELECT count(*) FROM orders WHERE status = 'dead'").fetchone()[0]
    dead_not_listed = conn.execute(
        "SELECT count(*) FROM orders o WHERE status = 'dead' AND NOT EXISTS "
        "(SELECT 1 FROM failures f WHERE f.shop = o.shop AND f.order_id = o.order_id AND f.replayed_at IS NULL)"
    ).fetchone()[0]
    reasons = [r[0] for r in conn.execute("SELECT DISTINCT reason FROM failures LIMIT 5")]
    conn.close()

    lost = len(not_stored) + len(missing_orders) + len(missing_trackings) + open_events + dead_not_listed
    duplicated = len(extra_orders) + len(duplicated_trackings) + len(wrong_owner)
    return {
        "accepted_not_stored": len(not_stored), "orders_expected": len(touched), "orders_at_target": len(target_orders),
        "missing_orders": missing_orders[:10], "extra_orders": extra_orders[:10],
        "trackings_expected": len(trackings), "trackings_at_target": len(state["trackings"]),
        "missing_trackings": missing_trackings[:10], "duplicated_trackings": duplicated_trackings[:10],
        "wrong_owner_trackings": wrong_owner[:10], "stale_orders": stale[:10], "events_by_state": events,
        "open_events": open_events, "dead_without_reason": dead_without_reason, "dead_orders": dead_orders,
        "dead_not_listed": dead_not_listed, "failure_reasons": reasons,
        "regressions": state["regressions"][:10], "regression_count": len(state["regressions"]),
        "invalid_requests": len(state["invalid_requests"]), "invalid_examples": state["invalid_requests"][:3],
        "chaos_answers": state["chaos_answers"], "target_requests": state["requests"],
        "target_puts_applied": state["puts_applied"],
        "lost": lost, "duplicated": duplicated, "stale": len(stale),
    }


# -- the run ----------------------------------------------------------------------------------
def _shown(path: Path) -> str:
    """``path`` with the temporary directory as ``$TMPDIR``: a kept result names no machine's paths."""
    temp = Path(tempfile.gettempdir())
    return f"$TMPDIR/{path.relative_to(temp)}" if path.is_relative_to(temp) else str(path)


def run_chaos(cfg: ChaosConfig) -> dict[str, Any]:
    rng = random.Random(cfg.seed)
    workdir = Path(cfg.workdir or tempfile.mkdtemp(prefix="chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    plan = plan_workload(cfg.webhooks, cfg.orders, rng)
    say = print if cfg.verbose else (lambda *a, **k: None)
    say(f"chaos: {len(plan)} webhooks for {cfg.orders} orders, workdir {_shown(workdir)}", flush=True)
    cluster = Cluster(cfg, workdir)
    faults: Counter[str] = Counter()
    stats = DriverStats()
    driver_done, stop = threading.Event(), threading.Event()
    t0 = time.monotonic()
    try:
        lanes = chaos_lanes(cluster, cfg, rng, faults, stats, driver_done, stop)
        drive(cluster, plan, cfg, stats)
        driver_done.set()
        drive_s = time.monotonic() - t0
        say(f"chaos: driver done in {drive_s:.0f}s; waiting for the fault quotas ({dict(faults)})", flush=True)
        for lane in lanes:
            lane.join(cfg.max_chaos_s)
        chaos_s = time.monotonic() - t0
        cluster.chaos("ok", 0)
        drain_s = drain(cluster, cfg)
        stop.set()
        result = verify(cluster, plan)
    finally:
        stop.set()
        cluster.stop()
        cluster.close_store()
    result.update(
        webhooks_planned=len(plan), webhooks_sent=stats.sent, webhooks_accepted=stats.accepted,
        duplicates_answered=stats.duplicates, duplicate_sends=sum(h.duplicate_send for h in plan),
        late_sends=sum(h.late for h in plan), non_200=dict(stats.retried), given_up=stats.given_up,
        given_up_hooks=stats.given_up_hooks[:5],
        faults=dict(faults), unexpected_exits=cluster.unexpected_exits, drive_s=round(drive_s, 1),
        chaos_s=round(chaos_s, 1), drain_s=round(drain_s, 1), workdir=str(workdir),
    )
    result["ok"] = (
        result["lost"] == 0 and result["duplicated"] == 0 and result["stale"] == 0 and drain_s >= 0
        and result["regression_count"] == 0 and not cluster.unexpected_exits and stats.given_up == 0
        and result["dead_without_reason"] == 0 and result["invalid_requests"] == 0
    )
    return result


def report(result: dict[str, Any]) -> str:
    faults = result["faults"]
    lines = [
        f"webhooks: planned {result['webhooks_planned']}, sent {result['webhooks_sent']} (incl. retries), "
        f"accepted {result['webhooks_accepted']}, duplicates answered {result['duplicates_answered']} "
        f"(exact re-sends {result['duplicate_sends']}), late/stale sends {result['late_sends']}, "
        f"non-200 answers {result['non_200']}, given up {result['given_up']}",
        "faults injected: " + ", ".join(f"{k} {faults.get(k, 0)}" for k in (PG_FAULT_KINDS if "pg_restart" in faults else FAULT_KINDS)),
        f"target answers under chaos: {result['chaos_answers']}; requests {result['target_requests']}, "
        f"order writes applied {result['target_puts_applied']}",
        f"orders: expected {result['orders_expected']}, at target {result['orders_at_target']}; "
        f"trackings: expected {result['trackings_expected']}, at target {result['trackings_at_target']}",
        f"events by state: {result['events_by_state']}; dead orders {result['dead_orders']}",
        f"timing: driver {result['drive_s']}s, chaos {result['chaos_s']}s, drain {result['drain_s']}s",
        f"unexpected process exits: {len(result['unexpected_exits'])} {result['unexpected_exits'][:5]}",
        f"invalid requests at target: {result['invalid_requests']}; backwards writes: {result['regression_count']}",
        f"lost {result['lost']}, duplicated {result['duplicated']}, stale {result['stale']}",
    ]
    if not result["ok"]:
        detail = {k: result[k] for k in ("missing_orders", "extra_orders", "missing_trackings", "duplicated_trackings",
                                         "wrong_owner_trackings", "stale_orders", "regressions", "invalid_examples",
                                         "accepted_not_stored", "open_events", "dead_not_listed")}
        lines.append("FAILED: " + json.dumps(detail, default=str)[:3000])
    for hook in result["given_up_hooks"]:
        lines.append(f"given up: {json.dumps(hook)}")
    lines.append("RESULT: " + ("PASS" if result["ok"] else "FAIL"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--min-faults", type=int, default=20, help="at least this many faults of each kind")
    parser.add_argument("--duration", type=float, default=150.0, help="seconds the driver spreads the webhooks over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: a throwaway server, two hosts, host kills and server restarts")
    args = parser.parse_args()
    print("command: python bench/chaos.py " + " ".join(sys.argv[1:]), flush=True)
    cfg = ChaosConfig(webhooks=args.webhooks, orders=args.orders, min_faults=args.min_faults,
                      duration_s=args.duration, seed=args.seed, workdir=args.workdir, engine=args.engine,
                      hosts=2 if args.engine == "postgres" else 1)
    result = run_chaos(cfg)
    print(report(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
