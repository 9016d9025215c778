"""Load soak: a steady webhook rate for minutes, with the worker delivering and pruning.

    python bench/soak.py --minutes 5 --rate 60 --retention 60

Real processes: ``connector serve --workers 3`` (gunicorn), one ``connector worker`` and the
http target stand-in (``bench/standin_server.py http-lean``), each its own process. The driver
posts signed ``orders/create``/``orders/updated`` webhooks for a pool of orders at a fixed rate
(open loop: a request is due at t0 + i/rate whatever the previous answers did). Each 30 s window
reports throughput (accepted and processed events per second, backlog), acknowledgement latency
p50/p95/p99, the RSS of every process, and the SQLite file size (db + WAL). Events processed more
than ``--retention`` seconds ago are pruned every ``--prune-interval`` seconds
(``database.retention_days`` / ``database.prune_interval_s``), so the file must level off.

At the end: RSS at start and end per process, SQLite growth per 10,000 events before pruning
started and in the steady state, and a least-squares slope of p99 latency and of memory over the
windows (an upward trend would show up there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.shopify.verify import sign_body
from tests.processes import connector_env, free_port, start_connector, wait_http

ROOT = Path(__file__).resolve().parent.parent

SECRET = "soak-secret-0123456789"
SHOP = "soak-shop.myshopify.com"
SAMPLE = ROOT / "tests" / "fixtures" / "orders_create.shopify-docs-sample.exact-ids.json"
BASE_ID = 6_100_000_000_000_000_000


@dataclass
class Window:
    start_s: float
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    late_max_s: float = 0.0  # how far behind schedule the driver fell
    latencies: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(args.workdir or tempfile.mkdtemp(prefix="soak-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.dir / "soak.db"
        (self.dir / "config.toml").write_text(f'[shops."{SHOP}"]\n')
        with (self.dir / "standin.log").open("ab") as log:  # the stand-in writes to its own copy
            self.standin = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "standin_server.py"), "http-lean"],
                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        self.target_url = self.standin.stdout.readline().strip()  # type: ignore[union-attr]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = connector_env(
            shopify_api_secret=SECRET, database_path=self.db_path, target_kind="http", target_all_shops="1", target_base_url=self.target_url,
            target_timeout_s=5, worker_poll_interval_s=0.2, worker_concurrency=4,
            database_retention_days=args.retention / 86400, database_prune_interval_s=args.prune_interval,
        )
        self.web = start_connector(["serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "3"], env, self.dir,
                                   self.dir / "serve.log")
        wait_http(f"{self.url}/healthz", timeout=30)
        self.worker = start_connector(["worker"], env, self.dir, self.dir / "worker.log")
        sample = json.loads(SAMPLE.read_bytes())
        sample.update(cancelled_at=None, cancel_reason=None, fulfillments=[])
        self.sample = sample
        self.versions: dict[int, int] = {}
        self.lock = threading.Lock()

    # -- processes ----------------------------------------------------------------------------
    def processes(self) -> dict[str, psutil.Process]:
        procs = {"gunicorn-master": psutil.Process(self.web.pid), "worker": psutil.Process(self.worker.pid),
                 "target-standin": psutil.Process(self.standin.pid)}
        for n, child in enumerate(sorted(procs["gunicorn-master"].children(), key=lambda p: p.pid)):
            procs[f"gunicorn-w{n + 1}"] = child
        return procs

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for name, proc in self.processes().items():
            try:
                out[name] = proc.memory_info().rss / 2**20
            except psutil.Error:
                out[name] = float("nan")
        return out

    def file_mb(self) -> tuple[float, float]:
        db = self.db_path.stat().st_size if self.db_path.exists() else 0
        wal = Path(f"{self.db_path}-wal")
        return db / 2**20, (wal.stat().st_size if wal.exists() else 0) / 2**20

    def store_counts(self) -> tuple[int, int, int]:
        """(highest event id = events received, open events = backlog, rows in events)."""
        conn = sqlite3.connect(str(self.db_path), timeout=30)
        try:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            backlog = conn.execute("SELECT count(*) FROM events WHERE state IN ('new', 'queued')").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            return top, backlog, rows
        finally:
            conn.close()

    def stop(self) -> None:
        for proc in (self.worker, self.web, self.standin):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (self.worker, self.web, self.standin):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.standin.stdout:
            self.standin.stdout.close()

    # -- driver -------------------------------------------------------------------------------
    def body(self, rng: random.Random) -> tuple[str, bytes]:
        idx = rng.randrange(self.args.orders)
        with self.lock:
            version = self.versions.get(idx, 0) + 1
            self.versions[idx] = version
        order = dict(self.sample)
        created = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=idx)
        order.update(id=BASE_ID + idx, name=f"#{5000 + idx}", order_number=5000 + idx,
                     created_at=created.isoformat(), updated_at=(created + timedelta(seconds=version)).isoformat(),
                     tags=f"v:{version}", note=f"version {version}")
        return ("orders/create" if version == 1 else "orders/updated"), json.dumps(order).encode()

    def run(self) -> dict[str, Any]:
        args = self.args
        total = int(args.minutes * 60 * args.rate)
        windows: list[Window] = []
        samples: list[dict[str, Any]] = []
        t0 = time.monotonic()
        counter = iter(range(total))
        counter_lock = threading.Lock()
        win_s = args.window

        def window_at(t: float) -> Window:
            index = int((t - t0) // win_s)
            with self.lock:
                while len(windows) <= index:
                    windows.append(Window(start_s=len(windows) * win_s))
                return windows[index]

        def sender(seed: int) -> None:
            rng = random.Random(seed)
            session = requests.Session()
            url = f"{self.url}/webhooks/shopify"
            while True:
                with counter_lock:
                    i = next(counter, None)
                if i is None:
                    return
                due = t0 + i / args.rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                topic, body = self.body(rng)
                headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
                           "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Hmac-Sha256": sign_body(body, SECRET),
                           "X-Shopify-Webhook-Id": str(uuid.uuid4())}
                started = time.monotonic()
                try:
                    ok = session.post(url, data=body, headers=headers, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                done = time.monotonic()
                w = window_at(started)
                with self.lock:
                    w.sent += 1
                    w.accepted += ok
                    w.errors += not ok
                    w.latencies.append(done - started)
                    w.late_max_s = max(w.late_max_s, started - due)

        def sampler() -> None:
            next_at = t0
            while not stop.is_set():
                top, backlog, rows = self.store_counts()
                db_mb, wal_mb = self.file_mb()
                samples.append({"t": time.monotonic() - t0, "received": top, "backlog": backlog, "rows": rows,
                                "db_mb": db_mb, "wal_mb": wal_mb, "rss": self.rss_mb()})
                next_at += win_s
                stop.wait(max(0.0, next_at - time.monotonic()))

        stop = threading.Event()
        sampling = threading.Thread(target=sampler, daemon=True)
        sampling.start()
        threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one last window boundary, then let the worker drain
        drain_started = time.monotonic()
        while self.store_counts()[1] and time.monotonic() - drain_started < 120:
            time.sleep(0.5)
        drain_s = time.monotonic() - drain_started
        time.sleep(max(0.0, win_s - ((time.monotonic() - t0) % win_s)) + 0.2)
        stop.set()
        sampling.join(win_s + 5)
        return {"windows": windows, "samples": samples, "drain_s": drain_s, "total": total,
                "elapsed_s": time.monotonic() - t0}


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    windows: list[Window] = result["windows"]
    samples: list[dict[str, Any]] = result["samples"]
    lines = [f"soak: {args.minutes} min at {args.rate}/s ({result['total']} webhooks), {args.orders} orders, "
             f"retention {args.retention:g}s, prune every {args.prune_interval:g}s, {args.senders} senders",
             "",
             "| window | sent/s | accepted | errors | p50 ms | p95 ms | p99 ms | max late ms | processed/s | backlog "
             "| events rows | db MB | wal MB | RSS MB web (master/w1/w2/w3) | RSS MB worker |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    p99s, xs = [], []
    for n, w in enumerate(windows):
        s_end = samples[n + 1] if n + 1 < len(samples) else samples[-1]
        s_start = samples[n] if n < len(samples) else samples[-1]
        processed = ((s_end["received"] - s_end["backlog"]) - (s_start["received"] - s_start["backlog"])) / args.window
        rss = s_end["rss"]
        web = "/".join(f"{rss.get(k, float('nan')):.0f}" for k in ("gunicorn-master", "gunicorn-w1", "gunicorn-w2", "gunicorn-w3"))
        p99 = percentile(w.latencies, 99) * 1000
        if w.sent and n < len(windows) - 1 or w.sent >= args.rate * args.window * 0.9:
            p99s.append(p99)
            xs.append(n)
        lines.append(
            f"| {w.start_s:.0f}-{w.start_s + args.window:.0f}s | {w.sent / args.window:.1f} | {w.accepted} | {w.errors} "
            f"| {percentile(w.latencies, 50) * 1000:.1f} | {percentile(w.latencies, 95) * 1000:.1f} | {p99:.1f} "
            f"| {w.late_max_s * 1000:.0f} | {processed:.1f} | {s_end['backlog']} | {s_end['rows']} "
            f"| {s_end['db_mb']:.1f} | {s_end['wal_mb']:.1f} | {web} | {rss.get('worker', float('nan')):.0f} |")
    first, last = samples[0], samples[-1]
    lines += ["", "RSS MB at start → end:"]
    for name in sorted(last["rss"]):
        lines.append(f"  {name:16s} {first['rss'].get(name, float('nan')):7.1f} → {last['rss'][name]:7.1f}")
    # growth before the first prune could delete anything (events younger than the retention)
    early = [s for s in samples if s["t"] <= args.retention]
    if len(early) >= 2 and early[-1]["received"] > early[0]["received"]:
        per10k = ((early[-1]["db_mb"] + early[-1]["wal_mb"]) - (early[0]["db_mb"] + early[0]["wal_mb"])) \
            / (early[-1]["received"] - early[0]["received"]) * 10_000
        lines.append(f"SQLite growth before pruning: {per10k:.1f} MB per 10,000 events")
    half = samples[len(samples) // 2]
    if last["received"] > half["received"]:
        per10k = ((last["db_mb"] + last["wal_mb"]) - (half["db_mb"] + half["wal_mb"])) / (last["received"] - half["received"]) * 10_000
        lines.append(f"SQLite growth in the second half (pruning on): {per10k:.2f} MB per 10,000 events; "
                     f"events rows {half['rows']} → {last['rows']} while {last['received'] - half['received']} more arrived")
    lines.append(f"p99 latency trend: {slope(xs, p99s):+.2f} ms per window")
    for name in ("worker", "gunicorn-w1", "gunicorn-w2", "gunicorn-w3"):
        ys = [s["rss"].get(name, float("nan")) for s in samples[1:]]
        lines.append(f"RSS trend {name}: {slope(list(range(len(ys))), ys):+.3f} MB per window")
    lines.append(f"drain after the last webhook: {result['drain_s']:.1f}s; total {result['elapsed_s']:.0f}s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=60.0, help="webhooks per second")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--retention", type=float, default=60.0, help="seconds processed events are kept")
    parser.add_argument("--prune-interval", type=float, default=15.0, help="seconds between prunes")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    soak = Soak(args)
    try:
        result = soak.run()
    finally:
        soak.stop()
    print(render(result, args), flush=True)


if __name__ == "__main__":
    main()
