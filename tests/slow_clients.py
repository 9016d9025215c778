"""Slow clients and a latency probe, on real sockets (loopback only, bounded in time).

``Tricklers`` opens sockets that send a request one byte at a time: half never finish their
headers, half send complete headers and then trickle the body; with ``reopen`` each one closed
by the server is opened again at once, as an attacker would, so ``count`` keep trickling. ``probe`` posts signed
webhooks at a steady pace and records how long each answer took.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from tests.support import webhook_headers


class Tricklers:
    """``count`` sockets to host:port, each sending one byte every ``interval_s`` until closed
    (with ``reopen``, replaced by a new one in the same slot)."""

    def __init__(self, port: int, count: int, interval_s: float = 0.5, tls: ssl.SSLContext | None = None,
                 reopen: bool = False) -> None:
        self.port, self.count, self.interval_s, self.tls, self.reopen = port, count, interval_s, tls, reopen
        self.sockets: list[socket.socket] = []
        self.closed_after: dict[int, float] = {}  # slot → seconds from its first connect until the server closed it
        self.lifetimes: list[tuple[int, float]] = []  # (slot, seconds open) of every socket the server closed
        self.refused = 0  # reconnections that failed (tried again on the next tick)
        self._opened: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tricklers:
        for index in range(self.count):
            self._opened.append(time.monotonic())
            self.sockets.append(self._connect(index))
        self._thread.start()
        return self

    def _connect(self, index: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(self._opening(index))
        return sock

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.sockets:
            sock.close()

    def header_tricklers(self) -> range:
        return range(0, self.count, 2)

    def body_tricklers(self) -> range:
        return range(1, self.count, 2)

    @staticmethod
    def _opening(index: int) -> bytes:
        start = b"POST /webhooks/shopify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Shopify-Topic: orders/create\r\n"
        if index % 2 == 0:
            return start + b"X-Slow: "  # a header line that never ends
        return start + b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"

    @property
    def reopened(self) -> int:
        return len(self.lifetimes) if self.reopen else 0

    def _run(self) -> None:
        started = list(self._opened)  # when each slot's current socket opened
        while not self._stop.wait(self.interval_s):
            for index, sock in enumerate(self.sockets):
                if index in self.closed_after and not self.reopen:
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    now = time.monotonic()
                    if sock.fileno() != -1:  # closed by the server now (not a slot whose reconnect failed)
                        self.closed_after.setdefault(index, now - self._opened[index])
                        self.lifetimes.append((index, now - started[index]))
                    if self.reopen and not self._stop.is_set():
                        sock.close()
                        self._replace(index, started)

    def _replace(self, index: int, started: list[float]) -> None:
        try:
            self.sockets[index] = self._connect(index)
        except OSError:
            self.refused += 1  # the slot stays dead until the next tick tries again
            return
        started[index] = time.monotonic()


@dataclass
class ProbeResult:
    latencies_s: list[float] = field(default_factory=list)  # answered ones
    statuses: list[int] = field(default_factory=list)
    timeouts: int = 0
    webhook_ids: list[str] = field(default_factory=list)  # answered 200

    @property
    def sent(self) -> int:
        return len(self.statuses) + self.timeouts

    def summary(self) -> str:
        if not self.latencies_s:
            return f"{self.sent} sent, 0 answered, {self.timeouts} timed out"
        ms = sorted(x * 1000 for x in self.latencies_s)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        return (f"{self.sent} sent, {len(ms)} answered ({self.statuses.count(200)}×200), {self.timeouts} timed out; "
                f"p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")


def probe(url: str, body: bytes, duration_s: float, every_s: float = 0.2, timeout_s: float = 5.0,
          verify: str | bool = True) -> ProbeResult:
    """Post a signed webhook every ``every_s`` for ``duration_s`` (each on a new connection)."""
    result = ProbeResult()
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        webhook_id = f"probe-{uuid.uuid4()}"
        started = time.monotonic()
        try:
            answer = requests.post(url, data=body, headers=webhook_headers(body, webhook_id=webhook_id),
                                   timeout=timeout_s, verify=verify)
        except requests.RequestException:
            result.timeouts += 1
            continue
        result.latencies_s.append(time.monotonic() - started)
        result.statuses.append(answer.status_code)
        if answer.status_code == 200:
            result.webhook_ids.append(webhook_id)
        time.sleep(max(0.0, every_s - (time.monotonic() - started)))
    return result
