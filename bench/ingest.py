#!/usr/bin/env python
"""Webhook ingest benchmark: the connector beside a bare HMAC-only Flask endpoint.

Both apps run under gunicorn with the shipped settings (``connector/gunicorn_conf.py``, 2
workers) on free loopback ports, for the whole run, against a fresh SQLite file in a temp dir
(with ``--engines sqlite,postgres`` also ``connector-pg``: the same app, first setup, on a
database of a throwaway PostgreSQL server — the tests' ``tests/pg_server.py`` with production
durability, fsync on and every commit flushed before the 200);
with ``--setups`` each app also runs under other worker classes (default: the shipped one and
the old ``sync``), so every figure stands beside its baseline of the same run. Phases, each
interleaved over every server for ``--rounds`` rounds (the machine is shared and noisy, so every
figure is the median over rounds):

1. closed loop: ``--clients`` threads send signed real order payloads back to back for
   ``--seconds`` (after a short warm-up) → peak webhooks/s, and latency at saturation;
2. open loop: requests scheduled at fixed intervals at *half the first setup's connector median
   peak*, the same rate for every server; latency is measured from each request's *scheduled*
   send time, so a stalled server is charged for the requests it delayed (no coordinated
   omission);
3. with ``--slow-clients N``: N sockets trickle a request a byte a second (half in the headers,
   half in the body; each reopened at once when the server closes it) for ``--slow-seconds``
   while one valid webhook is posted every 0.1 s, each on a new connection with Shopify's 5 s
   timeout → valid-webhook latency and failures under a slowloris attack.

On SQLite the connector answers from its intake journal (``webhooks.journal``); a filer
(``bench/journal_filer.py``, what ``connector worker`` does with the journal) runs beside the
servers for the whole run and files it into the events table. Its CPU during a SQLite
connector's phase is counted in that server's CPU (column *of it filing*): a webhook is done
only once filed. At the end every 200 from a connector must be a stored row: ``count(*)`` of ``events`` in each store
equals the number of 200 answers from the servers on it (each request carries a unique ``X-Shopify-Webhook-Id``, so each is a
distinct event). Goals from the issues: connector ≥ 0.85 × bare peak, p99 ≤ 25 ms at half peak,
valid webhooks answered well under a second while 50 slow clients trickle.
It is a report, not a test: the exit status is 0 whenever the run completes.

The client is deliberately light (it shares the 2 cores with the servers): payloads are
serialised and signed once up front (64 variants of the two real fixtures with distinct order
ids; only the webhook id changes per request), and each client thread speaks HTTP/1.1 over one
raw socket (keep-alive when the server allows it; the ``sync`` worker answers
``Connection: close``, so then it reconnects per request).

    python bench/ingest.py --quick
    python bench/ingest.py --setups shipped --engines sqlite,postgres   # PostgreSQL beside SQLite
    python bench/ingest.py --slow-clients 50       # ~7 min: the README's figures

Before/after a change: ``--baseline-root DIR`` (a checkout of the base commit) also serves that
checkout's connector app, as ``before``, under this checkout's server setup. ``--also NAME=module:create_app()`` runs another
connector build in the same interleave (first setup, same database); ``--connector-app`` swaps
the connector's gunicorn app spec (e.g. an instrumented wrapper on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

# This checkout's connector (and tests/), not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slowclients import ProbeResult, SlowClients, SlowStats, probe
from connector.shopify.verify import sign_body

ROOT = Path(__file__).resolve().parent.parent

FIXTURES = (
    ROOT / "tests" / "fixtures" / "orders_create.shopify-docs-sample.exact-ids.json",
    ROOT / "tests" / "fixtures" / "orders_create.shopify-test-notification-2017.json",
)
SHOP = "bench-shop.myshopify.com"
TOPIC = "orders/updated"
API_VERSION = "2026-10"
WEBHOOK_PATH = "/webhooks/shopify"
HOST = "127.0.0.1"
GOAL_RATIO = 0.85
GOAL_SLOW_MAX_S = 1.0
GOAL_P99_MS = 25.0

perf = time.perf_counter
# gunicorn arguments on top of the shipped ``--config python:connector.gunicorn_conf``.
SETUPS = {
    "shipped": [],  # what connector serve and the Procfile run
    "sync": ["--worker-class", "sync", "--threads", "1"],  # before issue 11 (threads > 1 would make it gthread)
    "gthread": ["--worker-class", "gthread"],  # gunicorn's threaded worker, the shipped 4 threads
    "gevent": ["--worker-class", "gevent"],  # gunicorn's stock gevent worker (monkey-patched)
}


# --------------------------------------------------------------------------------------------
# Payloads and a minimal HTTP/1.1 client


class Payloads:
    """Pre-signed request bytes; per request only the webhook id is spliced in."""

    def __init__(self, secret: str, variants: int = 64) -> None:
        orders = [json.loads(path.read_bytes()) for path in FIXTURES]
        self._parts: list[tuple[bytes, bytes]] = []
        self.body_sizes: list[int] = []
        for k in range(variants):
            order = dict(orders[k % len(orders)])
            order["id"] = int(order["id"]) + k
            if "admin_graphql_api_id" in order:
                order["admin_graphql_api_id"] = f"gid://shopify/Order/{order['id']}"
            body = json.dumps(order, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            self.body_sizes.append(len(body))
            head = (
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
                f"Host: {HOST}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"X-Shopify-Topic: {TOPIC}\r\n"
                f"X-Shopify-Shop-Domain: {SHOP}\r\n"
                f"X-Shopify-API-Version: {API_VERSION}\r\n"
                f"X-Shopify-Hmac-Sha256: {sign_body(body, secret)}\r\n"
                "X-Shopify-Webhook-Id: "
            ).encode("ascii")
            self._parts.append((head, b"\r\n\r\n" + body))

    def request(self, n: int, webhook_id: str) -> bytes:
        head, tail = self._parts[n % len(self._parts)]
        return head + webhook_id.encode("ascii") + tail


class Conn:
    """One client connection: keep-alive when the server allows it, reconnect when it closes."""

    __slots__ = ("addr", "sock")

    def __init__(self, port: int) -> None:
        self.addr = (HOST, port)
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def request(self, data: bytes) -> tuple[int, bytes]:
        sock = self.sock
        if sock is None:
            sock = socket.create_connection(self.addr, timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
        try:
            sock.sendall(data)
            buf = b""
            while (end := buf.find(b"\r\n\r\n")) < 0:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection before answering")
                buf += chunk
            lines = buf[:end].decode("latin-1").split("\r\n")
            version, status_text = lines[0].split(" ", 2)[:2]
            length, close = 0, version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = "close" in value.lower()
            body = buf[end + 4:]
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection mid-body")
                body += chunk
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return int(status_text), body


def http_get(port: int, path: str) -> int:
    conn = Conn(port)
    try:
        return conn.request(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())[0]
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


class Server:
    """A gunicorn master and its workers, in their own process group (killed as one)."""

    def __init__(self, name: str, app: str, workdir: Path, env: dict[str, str], gunicorn_args: list[str],
                 store: str | None = None) -> None:
        self.name = name
        self.store = store  # the engine its 200s must be stored in (None: the bare app stores nothing)
        self.port = free_port()
        self.log_path = workdir / f"{name}.gunicorn.log"
        self.argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{HOST}:{self.port}",
            *gunicorn_args,
            app,
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if http_get(self.port, "/healthz") == 200 and len(child_pids(self.proc.pid)) >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: /healthz not answering after {timeout_s:.0f}s:\n{self.log_tail()}")

    filer_pid: int | None = None  # the journal filer this server's webhooks wait for (SQLite)

    def cpu_s(self) -> float:
        """CPU used so far by the master and its live workers (and the journal filer, whose work
        during this server's phase is this server's webhooks being filed)."""
        return proc_cpu_s(self.proc.pid) + sum(self.worker_cpu_s().values()) + self.filer_cpu_s()

    def filer_cpu_s(self) -> float:
        return proc_cpu_s(self.filer_pid) if self.filer_pid else 0.0

    def worker_cpu_s(self) -> dict[int, float]:
        """CPU used so far by each live worker process."""
        return {pid: proc_cpu_s(pid) for pid in child_pids(self.proc.pid)}

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


# --------------------------------------------------------------------------------------------
# Load phases


@dataclass
class Phase:
    server: str
    kind: str  # "closed" | "open"
    round: int
    window_s: float
    offered_rate: float | None = None
    ok: int = 0  # 200s completed inside the measured window
    latencies: list[float] = field(default_factory=list)  # seconds, measured window only
    send_lags: list[float] = field(default_factory=list)  # open loop: actual send - scheduled
    sent: int = 0  # everything, warm-up included
    answered_200: int = 0
    other_status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    filer_cpu_s: float = 0.0  # of server_cpu_s: the journal filer's
    elapsed_s: float = 0.0
    busiest_worker_share: float = float("nan")  # of the workers' CPU in the phase (1/workers = even)

    @property
    def rate(self) -> float:
        return self.ok / self.window_s

    def pct_ms(self, q: float, values: list[float] | None = None) -> float:
        values = sorted(self.latencies if values is None else values)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] * 1000.0


class _Tally:
    """Per-thread counters, merged into a :class:`Phase` after the threads finish."""

    __slots__ = ("ok", "lat", "lag", "sent", "a200", "other", "errors", "dup")

    def __init__(self) -> None:
        self.ok = self.sent = self.a200 = self.dup = 0
        self.lat: list[float] = []
        self.lag: list[float] = []
        self.other: dict[int, int] = {}
        self.errors: dict[str, int] = {}

    def answer(self, conn: Conn, data: bytes) -> bool:
        """Send one request; True when it was answered 200."""
        self.sent += 1
        try:
            status, body = conn.request(data)
        except OSError as exc:
            key = type(exc).__name__
            self.errors[key] = self.errors.get(key, 0) + 1
            return False
        if status != 200:
            self.other[status] = self.other.get(status, 0) + 1
            return False
        self.a200 += 1
        if b'"duplicate":true' in body:
            self.dup += 1
        return True


def _run_threads(n: int, target: Callable[[int, _Tally, list[float]], None]) -> tuple[list[_Tally], float]:
    """Start ``n`` threads, release them together at a common start time; returns tallies and start."""
    tallies = [_Tally() for _ in range(n)]
    start_box: list[float] = []
    barrier = threading.Barrier(n + 1)

    def body(i: int) -> None:
        barrier.wait()
        target(i, tallies[i], start_box)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    start_box.append(perf() + 0.02)
    barrier.wait()
    for t in threads:
        t.join()
    return tallies, start_box[0]


def _merge(phase: Phase, tallies: list[_Tally]) -> None:
    for t in tallies:
        phase.ok += t.ok
        phase.latencies.extend(t.lat)
        phase.send_lags.extend(t.lag)
        phase.sent += t.sent
        phase.answered_200 += t.a200
        phase.duplicates += t.dup
        for k, v in t.other.items():
            phase.other_status[k] = phase.other_status.get(k, 0) + v
        for k, v in t.errors.items():
            phase.errors[k] = phase.errors.get(k, 0) + v


def _sleep_until(when: float) -> None:
    delay = when - perf()
    if delay > 0:
        time.sleep(delay)


def closed_loop(server: Server, payloads: Payloads, clients: int, warmup_s: float, seconds: float, tag: str, rnd: int) -> Phase:
    """``clients`` threads, each one request at a time, back to back."""

    def client(i: int, tally: _Tally, start_box: list[float]) -> None:
        start = start_box[0]
        measure_from, stop_at = start + warmup_s, start + warmup_s + seconds
        conn = Conn(server.port)
        _sleep_until(start)
        n = i
        try:
            while True:
                data = payloads.request(n, f"{tag}-{i}-{n}")
                t0 = perf()
                if t0 >= stop_at:
                    break
                ok = tally.answer(conn, data)
                t1 = perf()
                if ok and measure_from <= t1 < stop_at:
                    tally.ok += 1
                    tally.lat.append(t1 - t0)
                n += clients
        finally:
            conn.close()

    phase = Phase(server.name, "closed", rnd, window_s=seconds)
    _measure(phase, server, lambda: _run_threads(clients, client))
    return phase


def open_loop(server: Server, payloads: Payloads, clients: int, rate: float, warmup_s: float, seconds: float, tag: str, rnd: int) -> Phase:
    """Request i is due at start + i/rate; any free client thread takes the next due request.

    Latency runs from the *scheduled* time to the answer, so when every thread is stuck
    waiting on a slow answer, the requests that could not go out on time are charged for it.
    """
    total = int(rate * (warmup_s + seconds))
    interval = 1.0 / rate
    counter = itertools.count()  # next() on it is atomic under the GIL

    def client(i: int, tally: _Tally, start_box: list[float]) -> None:
        start = start_box[0]
        measure_from = start + warmup_s
        conn = Conn(server.port)
        try:
            while (n := next(counter)) < total:
                data = payloads.request(n, f"{tag}-{n}")
                due = start + n * interval
                _sleep_until(due)
                sent_at = perf()
                ok = tally.answer(conn, data)
                done = perf()
                if due >= measure_from:
                    tally.lag.append(sent_at - due)
                    if ok:
                        tally.ok += 1
                        tally.lat.append(done - due)
        finally:
            conn.close()

    phase = Phase(server.name, "open", rnd, window_s=seconds, offered_rate=rate)
    _measure(phase, server, lambda: _run_threads(clients, client))
    return phase


def _measure(phase: Phase, server: Server, run: Callable[[], tuple[list[_Tally], float]]) -> None:
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    srv0, workers0, filer0 = server.cpu_s(), server.worker_cpu_s(), server.filer_cpu_s()
    t0 = perf()
    tallies, _ = run()
    phase.elapsed_s = perf() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    phase.server_cpu_s = server.cpu_s() - srv0
    phase.filer_cpu_s = server.filer_cpu_s() - filer0
    # How evenly the kernel's accept() spread the kept-alive client connections over the workers.
    used = [cpu - workers0[pid] for pid, cpu in server.worker_cpu_s().items() if pid in workers0]
    if sum(used) > 0:
        phase.busiest_worker_share = max(used) / sum(used)
    phase.client_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    _merge(phase, tallies)


# --------------------------------------------------------------------------------------------
# Report


def _fmt(x: float, nd: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{nd}f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _summary_row(phases: list[Phase], kind: str) -> list[str]:
    rates = [p.rate for p in phases]
    p50 = median(p.pct_ms(0.50) for p in phases)
    p99 = median(p.pct_ms(0.99) for p in phases)
    cpu_per_req = median(p.server_cpu_s / max(1, p.sent) * 1000 for p in phases)
    srv_cores = median(p.server_cpu_s / p.elapsed_s for p in phases)
    cli_cores = median(p.client_cpu_s / p.elapsed_s for p in phases)
    row = [phases[0].server]
    if kind == "closed":
        row += [f"{median(rates):.0f}", " ".join(f"{r:.0f}" for r in rates)]
    else:
        row += [f"{phases[0].offered_rate:.0f}", f"{median(rates):.0f}"]
    row += [_fmt(p50, 2), _fmt(p99, 2)]
    if kind == "open":
        row += [" ".join(_fmt(p.pct_ms(0.99), 1) for p in phases),
                _fmt(median(p.pct_ms(0.99, p.send_lags) for p in phases), 2)]
    filing_per_req = median(p.filer_cpu_s / max(1, p.sent) * 1000 for p in phases)
    row += [_fmt(cpu_per_req, 3), _fmt(filing_per_req, 3), _fmt(srv_cores, 2), _fmt(cli_cores, 2),
            " ".join(_fmt(p.busiest_worker_share, 2) for p in phases)]
    return row


def _peak(phases: list[Phase], server: str) -> float:
    return median(p.rate for p in phases if p.server == server and p.kind == "closed")


def _ratio_line(phases: list[Phase], name: str, base: str, goal: float | None) -> str:
    def closed(server: str) -> list[Phase]:
        return [p for p in phases if p.server == server and p.kind == "closed"]

    ratio = _peak(phases, name) / _peak(phases, base) if _peak(phases, base) else float("nan")
    rounds = " ".join(f"{c.rate / b.rate:.2f}" for b, c in zip(closed(base), closed(name), strict=False) if b.rate)
    verdict = f" — goal ≥ {goal:.2f}: {'met' if ratio >= goal else 'NOT met'}" if goal else ""
    return f"{name} / {base}: {ratio:.2f} (per round: {rounds}){verdict}"


def report(phases: list[Phase], args: argparse.Namespace, stored_rows: dict[str, int | None], rate: float,
           slow: dict[str, tuple[ProbeResult, SlowStats]], servers: dict[str, Server]) -> None:
    """``stored_rows``: the rows of ``events`` in each engine's store."""
    def by(server: str, kind: str) -> list[Phase]:
        return [p for p in phases if p.server == server and p.kind == kind]

    names = list(dict.fromkeys(p.server for p in phases))
    stores = [n for n in names if not n.startswith("bare")]
    print()
    print(f"Phase 1 — closed loop: {args.clients} clients back to back, {args.seconds:g}s measured "
          f"(+{args.warmup:g}s warm-up) × {args.rounds} rounds; medians over rounds")
    print(_table(
        ["server", "webhooks/s", "per round", "p50 ms", "p99 ms", "srv CPU ms/req", "of it filing", "srv cores", "client cores", "busiest worker"],
        [_summary_row(by(s, "closed"), "closed") for s in names],
    ))
    for setup in args.setups:
        for name in stores:
            if name.endswith(f":{setup}"):
                print(_ratio_line(phases, name, f"bare:{setup}", GOAL_RATIO))
    first = args.setups[0]
    if f"before:{first}" in stores:
        print(_ratio_line(phases, f"connector:{first}", f"before:{first}", None) + "  (this checkout's app beside --baseline-root's)")
    if f"connector-pg:{first}" in stores:
        print(_ratio_line(phases, f"connector-pg:{first}", f"connector:{first}", None) + "  (PostgreSQL beside SQLite)")
    for other in args.setups[1:]:
        for app in ("bare", "connector"):
            print(_ratio_line(phases, f"{app}:{first}", f"{app}:{other}", None))

    print()
    print(f"Phase 2 — open loop at {rate:.0f}/s (half the {first} connector's median peak), {args.clients} client "
          f"threads, {args.seconds:g}s measured × {args.rounds} rounds; latency from the scheduled send time")
    print(_table(
        ["server", "offered/s", "answered/s", "p50 ms", "p99 ms", "p99 per round", "send lag p99 ms",
         "srv CPU ms/req", "of it filing", "srv cores", "client cores", "busiest worker"],
        [_summary_row(by(s, "open"), "open") for s in names],
    ))
    for name in stores:
        p99 = median(p.pct_ms(0.99) for p in by(name, "open"))
        print(f"{name} p99 at half peak: {p99:.2f} ms — goal ≤ {GOAL_P99_MS:g} ms: "
              f"{'met' if p99 <= GOAL_P99_MS else 'NOT met'}")
    if slow:
        report_slow(slow, args)

    print()
    print("Answers and storage")
    for server in names:
        mine = [p for p in phases if p.server == server]
        other: dict[int, int] = {}
        errors: dict[str, int] = {}
        for p in mine:
            for k, v in p.other_status.items():
                other[k] = other.get(k, 0) + v
            for k, v in p.errors.items():
                errors[k] = errors.get(k, 0) + v
        sent = sum(p.sent for p in mine)
        got = sum(p.answered_200 for p in mine)
        dups = sum(p.duplicates for p in mine)
        print(f"  {server:<18} sent {sent}, 200 {got}, other statuses {other or 'none'}, "
              f"transport errors {errors or 'none'}, duplicates {dups}")
    for engine, rows in stored_rows.items():
        _storage_check(engine, rows, [n for n in stores if servers[n].store == engine], phases, slow)


def _storage_check(engine: str, stored: int | None, names: list[str], phases: list[Phase],
                   slow: dict[str, tuple[ProbeResult, SlowStats]]) -> None:
    answered = sum(p.answered_200 for p in phases if p.server in names)
    sent = sum(p.sent for p in phases if p.server in names)
    for name, (result, _) in slow.items():
        if name in names:
            answered += len(result.latencies)
            sent += result.sent
    if stored is None:
        print(f"  storage check ({engine}): could not read the events table")
        return
    # A webhook the client gave up on (phase 3) may still have been stored: bounded by what was sent.
    verdict = "OK" if answered <= stored <= sent else "MISMATCH"
    print(f"  storage check ({engine}): rows in events = {stored}; 200 answers from {' + '.join(names)} = {answered}, "
          f"sent {sent} → {verdict} (every 200 stored)")


def report_slow(slow: dict[str, tuple[ProbeResult, SlowStats]], args: argparse.Namespace) -> None:
    print()
    print(f"Phase 3 — {args.slow_clients} slow clients (1 byte/s, half headers, half bodies, reopened when closed) "
          f"for {args.slow_seconds:g}s; one valid webhook every 0.1 s on a new connection, 5 s timeout")
    rows = []
    for name, (result, stats) in slow.items():
        r, st = result, stats
        rows.append([
            name, f"{len(r.latencies)}/{r.sent}", _fmt(r.pct_ms(0.5), 1), _fmt(r.pct_ms(0.99), 1),
            _fmt(r.pct_ms(1.0), 1), ", ".join(f"{k} {v}" for k, v in r.failures.items()) or "none",
            str(st.opened), str(st.closed_by_server), _fmt(st.longest_s, 1),
        ])
    print(_table(["server", "valid 200/sent", "p50 ms", "p99 ms", "max ms", "failures", "slow opened",
                  "closed by server", "longest slow s"], rows))
    for name, (result, _) in slow.items():
        worst = result.pct_ms(1.0) / 1000 if result.latencies else float("inf")
        ok = not result.failures and worst < GOAL_SLOW_MAX_S
        print(f"{name}: every valid webhook answered in < {GOAL_SLOW_MAX_S:g} s: {'met' if ok else 'NOT met'}")


def count_events(location: str) -> int | None:
    from connector.store.db import connect

    try:
        db = connect(location)
        try:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            db.close()
    except Exception as exc:  # noqa: BLE001 - reported; the run's figures still print
        print(f"cannot count events: {exc}", file=sys.stderr)
        return None


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=None, help="measured seconds per phase (default 6; --quick 2)")
    ap.add_argument("--warmup", type=float, default=None, help="unmeasured seconds before each phase (default 1; --quick 0.5)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads/connections (default 8)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per phase (default 3; --quick 2)")
    ap.add_argument("--quick", action="store_true", help="a short run: 2 rounds of 2 s phases")
    ap.add_argument("--rate", type=float, default=None, help="open-loop rate (default: half the first connector's median peak)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers per server (default 2)")
    ap.add_argument("--setups", default="shipped,sync",
                    help=f"comma-separated gunicorn setups, each run for both apps (default shipped,sync; known: {', '.join(SETUPS)})")
    ap.add_argument("--slow-clients", type=int, default=0, metavar="N", help="phase 3 with N trickling sockets (default off)")
    ap.add_argument("--slow-seconds", type=float, default=30.0, help="length of phase 3 per server (default 30)")
    ap.add_argument("--connector-app", default="connector.app:create_app()", help="gunicorn app spec of the connector (e.g. an instrumented wrapper)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=APP",
                    help="another connector build (gunicorn app spec) measured in the same interleave, "
                         "under the first setup, same database; for before/after comparisons on a noisy machine")
    ap.add_argument("--baseline-root", metavar="DIR",
                    help="a checkout of another commit (git worktree add DIR <commit>): its connector app is also "
                         "measured, as 'before', under this checkout's server setup (first setup), same database")
    ap.add_argument("--engines", default="sqlite",
                    help="sqlite, or sqlite,postgres: also the connector on PostgreSQL (first setup), in the same interleave")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, gunicorn logs)")
    ap.add_argument("--json", metavar="PATH", help="also write per-phase figures as JSON")
    args = ap.parse_args(argv)
    defaults = (2.0, 0.5, 2) if args.quick else (6.0, 1.0, 3)
    args.seconds = args.seconds if args.seconds is not None else defaults[0]
    args.warmup = args.warmup if args.warmup is not None else defaults[1]
    args.rounds = args.rounds if args.rounds is not None else defaults[2]
    args.setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    if unknown := [name for name in args.setups if name not in SETUPS]:
        ap.error(f"--setups: unknown {', '.join(unknown)} (known: {', '.join(SETUPS)})")
    if args.clients < 1 or args.rounds < 1 or args.seconds <= 0 or not args.setups:
        ap.error("--clients, --rounds, --seconds and --setups must be positive")
    args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if args.engines not in (["sqlite"], ["sqlite", "postgres"]):
        ap.error("--engines: sqlite or sqlite,postgres")
    return args


def start_servers(args: argparse.Namespace, workdir: Path, env: dict[str, str], pg_url: str | None) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for setup in args.setups:
        gunicorn_args = ["--config", "python:connector.gunicorn_conf", "--workers", str(args.workers),
                         *SETUPS[setup], "--graceful-timeout", "5", "--log-level", "warning"]
        servers[f"bare:{setup}"] = Server(f"bare:{setup}", "bench.bare_app:create_app()", workdir, env, gunicorn_args)
        servers[f"connector:{setup}"] = Server(f"connector:{setup}", args.connector_app, workdir, env, gunicorn_args, "sqlite")
        if setup == args.setups[0] and pg_url:
            servers[f"connector-pg:{setup}"] = Server(f"connector-pg:{setup}", args.connector_app, workdir,
                                                      {**env, "CONNECTOR_DATABASE_URL": pg_url}, gunicorn_args, "postgres")
        if setup == args.setups[0]:
            if args.baseline_root:
                servers[f"before:{setup}"] = Server(f"before:{setup}", "bench.checkout_app:create_app()", workdir,
                                                    {**env, "BENCH_BASELINE_ROOT": str(Path(args.baseline_root).resolve())},
                                                    gunicorn_args, "sqlite")
            for spec in args.also:
                name, _, app = spec.partition("=")
                if not name or not app or name in servers:
                    raise SystemExit(f"--also {spec!r}: expected a new NAME=module:app")
                servers[f"{name}:{setup}"] = Server(f"{name}:{setup}", app, workdir, env, gunicorn_args, "sqlite")
    for server in servers.values():
        server.wait_ready()
    return servers


def slow_phase(server: Server, payloads: Payloads, args: argparse.Namespace, tag: str) -> tuple[ProbeResult, SlowStats]:
    """Valid webhooks, each on a new connection with Shopify's 5 s timeout, while sockets trickle."""
    counter = itertools.count()

    def send() -> int:
        n = next(counter)
        with socket.create_connection((HOST, server.port), timeout=5) as sock:
            sock.sendall(payloads.request(n, f"{tag}-{n}"))
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed without an answer")
                answer += chunk
        return int(answer.split(b" ", 2)[1])

    with SlowClients(server.port, args.slow_clients, interval_s=1.0) as slow:
        time.sleep(1.0)
        result = probe(send, args.slow_seconds, interval_s=0.1)
        stats = slow.stats
    return result, stats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.setswitchinterval(0.0005)  # client threads wake on time; don't let one hold the GIL 5 ms
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    db_path = workdir / "connector.db"
    secret = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(
        PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        CONNECTOR_SHOPIFY_API_SECRET=secret,
        CONNECTOR_DATABASE_PATH=str(db_path),
    )
    payloads = Payloads(secret)
    print(f"ingest benchmark — python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gunicorn --config python:connector.gunicorn_conf --workers {args.workers}; setups: "
          + "; ".join(f"{name} [{' '.join(SETUPS[name]) or 'as shipped'}]" for name in args.setups)
          + f"; bodies {min(payloads.body_sizes)}–{max(payloads.body_sizes)} B")

    servers: dict[str, Server] = {}
    phases: list[Phase] = []
    slow: dict[str, tuple[ProbeResult, SlowStats]] = {}
    run_id = secrets.token_hex(3)
    rate = args.rate or 0.0
    pg, locations = None, {"sqlite": str(db_path)}
    filer: subprocess.Popen[bytes] | None = None
    stored: dict[str, int | None] = {}
    try:
        if "postgres" in args.engines:
            from tests.pg_server import DURABLE, PgServer, find_bindir

            bindir = find_bindir()
            if bindir is None:
                raise SystemExit("--engines postgres: PostgreSQL's server binaries are needed (apt-get install postgresql)")
            pg = PgServer.start(bindir, DURABLE)
            locations["postgres"] = pg.new_database()
        servers = start_servers(args, workdir, env, locations.get("postgres"))
        # As `connector worker` beside `connector serve`: webhooks answered from the intake
        # journal are filed into the events table meanwhile, on the same cores.
        filer = subprocess.Popen([sys.executable, "-m", "bench.journal_filer", str(db_path)], cwd=ROOT, env=env)
        for server in servers.values():
            if server.store == "sqlite":
                server.filer_pid = filer.pid

        def tag(name: str, kind: str, rnd: int) -> str:
            return f"bench-{run_id}-{name}-{kind}{rnd}"

        for rnd in range(1, args.rounds + 1):
            for name in servers:
                p = closed_loop(servers[name], payloads, args.clients, args.warmup, args.seconds, tag(name, "c", rnd), rnd)
                phases.append(p)
                print(f"  round {rnd} closed {name:<18} {p.rate:7.0f}/s  p50 {p.pct_ms(.5):6.2f} ms  "
                      f"p99 {p.pct_ms(.99):6.2f} ms", flush=True)

        rate = args.rate or max(1.0, _peak(phases, f"connector:{args.setups[0]}") / 2)
        for rnd in range(1, args.rounds + 1):
            for name in servers:
                p = open_loop(servers[name], payloads, args.clients, rate, args.warmup, args.seconds, tag(name, "o", rnd), rnd)
                phases.append(p)
                print(f"  round {rnd} open   {name:<18} {p.rate:7.0f}/s  p50 {p.pct_ms(.5):6.2f} ms  "
                      f"p99 {p.pct_ms(.99):6.2f} ms", flush=True)

        if args.slow_clients:
            for name in servers:
                slow[name] = slow_phase(servers[name], payloads, args, tag(name, "s", 0))
                result, stats = slow[name]
                print(f"  slow   {name:<18} valid {len(result.latencies)}/{result.sent}  p99 {result.pct_ms(.99):7.1f} ms  "
                      f"max {result.pct_ms(1):7.1f} ms  slow sockets closed by the server {stats.closed_by_server}", flush=True)
    finally:
        for s in servers.values():
            s.stop()
        if filer is not None:  # it files what the stopped servers left in the journal, then ends
            filer.terminate()
            filer.wait(120)
        stored = {engine: count_events(location) for engine, location in locations.items()}
        if pg is not None:
            pg.stop()

    report(phases, args, stored, rate, slow, servers)
    if args.json:
        Path(args.json).write_text(json.dumps([
            {"server": p.server, "kind": p.kind, "round": p.round, "rate": p.rate, "offered": p.offered_rate,
             "p50_ms": p.pct_ms(.5), "p99_ms": p.pct_ms(.99), "sent": p.sent, "answered_200": p.answered_200,
             "server_cpu_s": p.server_cpu_s, "client_cpu_s": p.client_cpu_s, "elapsed_s": p.elapsed_s}
            for p in phases
        ], indent=1))
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
