"""A ``customers/redact`` over thousands of stored orders, and what other shops see meanwhile.

    python bench/redaction.py --orders 4000 [--baseline-ref REF]

Real processes: ``connector serve`` (gunicorn) and ``connector worker`` on one SQLite file,
dry-run target. Shop A gets ``--orders`` stored orders (a quarter of them the customer's), all
triaged and delivered first; then Shopify's ``customers/redact`` for that customer arrives, and
while the worker honours it a driver posts signed orders of shop B, one every 20 ms, timing each
answer. Reported: how long the redaction took, shop B's webhook latency (p50/p99/max) and any
non-200 answers during it, and the worker's peak RSS (psutil) — the figures of issue 11 item 2
(before: the write lock held ~113 s for 4,000 orders, 503s for everyone, 1.5 GB).

``--baseline-ref REF`` runs the same scenario first against another commit (checked out with
``git worktree`` into a temporary folder) and prints both, side by side, from one run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.shopify.verify import sign_body
from tests.processes import connector_env, free_port, start_connector, wait_for, wait_http

ROOT = Path(__file__).resolve().parent.parent

SECRET = "redaction-secret-0123456789"
SHOP_A, SHOP_B = "redact-a.myshopify.com", "other-b.myshopify.com"
SAMPLE = ROOT / "tests" / "fixtures" / "orders_create.shopify-docs-sample.exact-ids.json"
CUSTOMER_ID, EMAIL = 7_700_000_000_001, "redact.me@example.com"
BASE_ID = 6_200_000_000_000_000_000


@dataclass
class Figures:
    orders: int
    redaction_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0  # non-200 answers to shop B during the redaction
    peak_rss_mb: float = 0.0
    idle_rss_mb: float = 0.0
    handled: bool = False
    pii_left: int = 0  # stored events of shop A still holding the customer's email

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def line(self, label: str) -> str:
        return (f"{label:<10} orders={self.orders} redaction={self.redaction_s:.1f}s handled={self.handled} "
                f"B-webhooks={len(self.latencies_ms)} p50={self.percentile(0.5):.0f}ms p99={self.percentile(0.99):.0f}ms "
                f"max={max(self.latencies_ms, default=0):.0f}ms non-200={self.failures} "
                f"worker-rss idle={self.idle_rss_mb:.0f}MB peak={self.peak_rss_mb:.0f}MB pii-left={self.pii_left}")


def order(order_id: int, mine: bool) -> bytes:
    doc = json.loads(SAMPLE.read_bytes())
    doc.update(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}", cancelled_at=None,
               updated_at="2026-11-25T10:00:00Z")
    if mine:
        doc["email"] = doc["contact_email"] = EMAIL
        doc["customer"] = dict(doc["customer"], id=CUSTOMER_ID, email=EMAIL)
    else:
        doc["email"] = doc["contact_email"] = f"someone.{order_id}@example.com"
        doc["customer"] = dict(doc["customer"], id=CUSTOMER_ID + order_id % 100_000 + 1, email=doc["email"])
    return json.dumps(doc).encode()


def seed(db_path: Path, count: int) -> None:
    """Store the orders as intake would (one signed webhook each), in one transaction: fast."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    for n in range(count):
        conn.execute(
            "INSERT INTO events (shop, topic, dedupe_key, received_at, triggered_at, body) VALUES (?, ?, ?, ?, ?, ?)",
            [SHOP_A, "orders/create", f"webhook:seed-{n}", "2026-11-25T10:00:01.000000Z", None,
             order(BASE_ID + n, mine=n % 4 == 0)],
        )
    conn.execute("COMMIT")
    conn.close()


def post(base: str, shop: str, topic: str, body: bytes) -> requests.Response:
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop, "X-Shopify-Hmac-Sha256": sign_body(body, SECRET),
               "X-Shopify-Webhook-Id": uuid.uuid4().hex, "Content-Type": "application/json"}
    return requests.post(f"{base}/webhooks/shopify", data=body, headers=headers, timeout=60)


def _count(db_path: Path, sql: str, params: tuple = ()) -> int:
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


class Processes:
    """``connector serve`` and ``connector worker`` of one source tree, on one database."""

    def __init__(self, source: Path, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        (workdir / "config.toml").write_text(f'[shops."{SHOP_A}"]\n[shops."{SHOP_B}"]\n')
        self.env = connector_env(shopify_api_secret=SECRET, database_path=workdir / "c.db", target_kind="dry-run",
                                 worker_poll_interval_s=0.05, worker_concurrency=4, worker_lease_s=30)
        self.env["PYTHONPATH"] = str(source)
        self.env["CONNECTOR_CONFIG"] = str(workdir / "config.toml")
        self.env["CONNECTOR_TARGET_ALL_SHOPS"] = "true"  # the global (dry-run) account serves both shops
        self.web = start_connector(["serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"], self.env,
                                   workdir, workdir / "serve.log")
        wait_http(f"{self.base}/healthz", timeout=60)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_worker(self) -> psutil.Process:
        self.worker = start_connector(["worker"], self.env, self.workdir, self.workdir / "worker.log")
        return psutil.Process(self.worker.pid)

    def stop(self) -> None:
        for proc in (getattr(self, "worker", None), self.web):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (getattr(self, "worker", None), self.web):
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run_scenario(source: Path, workdir: Path, orders: int, timeout_s: float = 300.0) -> Figures:
    figures = Figures(orders)
    procs = Processes(source, workdir)
    db_path = workdir / "c.db"
    try:
        seed(db_path, orders)
        worker = procs.start_worker()
        drained = wait_for(lambda: _count(db_path, "SELECT count(*) FROM events WHERE state IN ('new', 'queued')") == 0,
                           timeout=timeout_s, interval=0.5)
        assert drained, "the seeded orders were not delivered in time"
        figures.idle_rss_mb = worker.memory_info().rss / 1e6
        redact = {"shop_id": 1, "shop_domain": SHOP_A, "customer": {"id": CUSTOMER_ID, "email": EMAIL},
                  "orders_to_redact": [BASE_ID + n for n in range(0, orders, 4)]}
        started = time.monotonic()
        assert post(procs.base, SHOP_A, "customers/redact", json.dumps(redact).encode()).status_code == 200
        _drive(procs, worker, db_path, figures, started + timeout_s)
        figures.redaction_s = time.monotonic() - started
        # Bodies have a table of their own since m012_event_bodies; a baseline before it keeps them in events.
        split = _count(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'event_bodies'")
        rows, body = ("events JOIN event_bodies b ON b.event_id = events.id", "b.body") if split else ("events", "body")
        figures.pii_left = _count(db_path, f"SELECT count(*) FROM {rows} WHERE shop = ? AND instr({body}, ?) > 0",
                                  (SHOP_A, EMAIL.encode()))
    finally:
        procs.stop()
    return figures


def _drive(procs: Processes, worker: psutil.Process, db_path: Path, figures: Figures, deadline: float) -> None:
    """Shop B's webhooks, one every 20 ms, and the worker's RSS, until the redaction is handled."""
    stop = threading.Event()

    def sample_rss() -> None:
        while not stop.is_set():
            try:
                figures.peak_rss_mb = max(figures.peak_rss_mb, worker.memory_info().rss / 1e6)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            sent = time.monotonic()
            answer = post(procs.base, SHOP_B, "orders/create", order(BASE_ID + 10_000_000 + n, mine=False))
            figures.latencies_ms.append((time.monotonic() - sent) * 1000)
            figures.failures += answer.status_code != 200
            if n % 10 == 0 and _count(db_path, "SELECT count(*) FROM events WHERE topic = 'customers/redact' "
                                      "AND state = 'handled'"):
                figures.handled = True
                return
            time.sleep(0.02)
    finally:
        stop.set()
        sampler.join(1)


def _checkout(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--baseline-ref", help="a git commit to run first, as the baseline")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    results: list[tuple[str, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="redaction-bench-") as tmp:
        if args.baseline_ref:
            source = _checkout(args.baseline_ref, Path(tmp) / "baseline-src")
            try:
                (Path(tmp) / "baseline").mkdir()
                results.append((f"before ({args.baseline_ref[:10]})", run_scenario(source, Path(tmp) / "baseline", args.orders, args.timeout)))
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(source)], check=False)
        (Path(tmp) / "current").mkdir()
        results.append(("after", run_scenario(ROOT, Path(tmp) / "current", args.orders, args.timeout)))
    for label, figures in results:
        print(figures.line(label))


if __name__ == "__main__":
    main()
