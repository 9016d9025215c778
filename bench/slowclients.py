"""Slow clients against a running server, and a prober that times valid webhooks meanwhile.

A slow client opens a connection and trickles its request a byte at a time, the way a
slowloris attack (or a very bad network) does: either the headers never end, or the headers are
complete and the body (``Content-Length`` of a few KB) never is. When the server closes the
socket, the client opens a new one at once, so ``n`` sockets are trickling for the whole run.

Used by ``bench/ingest.py --slow-clients N`` and ``tests/test_slow_clients.py``. Loopback only;
one thread drives every slow socket, so the load it adds is a few syscalls per interval.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
MODES = ("headers", "body")


def _request_head(mode: str, host: str) -> bytes:
    if mode == "headers":  # the blank line that ends the headers never comes
        return f"POST /webhooks/shopify HTTP/1.1\r\nHost: {host}\r\nX-Shopify-Topic: orders/create\r\nX-Slow: ".encode()
    return (
        f"POST /webhooks/shopify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 4000\r\nX-Shopify-Topic: orders/create\r\n"
        "X-Shopify-Shop-Domain: slow-shop.myshopify.com\r\nX-Shopify-Webhook-Id: slow\r\n"
        "X-Shopify-Hmac-Sha256: AAAA\r\n\r\n{"
    ).encode()


@dataclass
class _Slow:
    sock: socket.socket
    mode: str
    opened: float
    next_send: float


@dataclass
class SlowStats:
    opened: int = 0
    closed_by_server: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # first status line seen → count
    lifetimes: list[float] = field(default_factory=list)  # open → closed by the server, seconds
    connect_errors: int = 0

    @property
    def longest_s(self) -> float:
        return max(self.lifetimes, default=0.0)


class SlowClients:
    """``n`` sockets trickling one byte every ``interval_s`` until :meth:`stop`."""

    def __init__(self, port: int, n: int, interval_s: float = 1.0, modes: tuple[str, ...] = MODES,
                 reconnect: bool = True, host: str = HOST) -> None:
        self.addr = (host, port)
        self.n, self.interval_s, self.modes, self.reconnect = n, interval_s, modes, reconnect
        self.stats = SlowStats()
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._opened_total = 0

    def __enter__(self) -> SlowClients:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        for i in range(self.n):
            self._open(self.modes[i % len(self.modes)], stagger=i / max(1, self.n))
        self._thread.start()

    def stop(self) -> SlowStats:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()
        return self.stats

    @property
    def open_now(self) -> int:
        return len(self._sel.get_map())

    def _open(self, mode: str, stagger: float = 0.0) -> None:
        try:
            sock = socket.create_connection(self.addr, timeout=2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(_request_head(mode, self.addr[0]))
        except OSError:
            self.stats.connect_errors += 1
            return
        sock.setblocking(False)
        now = time.monotonic()
        self._sel.register(sock, selectors.EVENT_READ, _Slow(sock, mode, now, now + self.interval_s * (1 + stagger)))
        self.stats.opened += 1

    def _closed(self, slow: _Slow, first_bytes: bytes) -> None:
        self._sel.unregister(slow.sock)
        slow.sock.close()
        self.stats.closed_by_server += 1
        self.stats.lifetimes.append(time.monotonic() - slow.opened)
        status = first_bytes.split(b"\r\n", 1)[0].decode("latin-1")[:40] or "(closed, no answer)"
        self.stats.answered[status] = self.stats.answered.get(status, 0) + 1
        if self.reconnect and not self._stop.is_set():
            self._open(slow.mode)

    def _run(self) -> None:
        while not self._stop.is_set():
            slows: list[_Slow] = [key.data for key in self._sel.get_map().values()]
            now = time.monotonic()
            wait = min((s.next_send for s in slows), default=now + 0.1) - now
            for key, _ in self._sel.select(timeout=min(0.1, max(0.0, wait))):
                slow = key.data
                try:
                    data = slow.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                self._closed(slow, data)
            now = time.monotonic()
            for slow in slows:
                if slow.next_send <= now and slow.sock.fileno() >= 0:
                    try:
                        slow.sock.send(b"x" if slow.mode == "headers" else b" ")
                    except BlockingIOError:
                        pass
                    except OSError:
                        if self._sel.get_map().get(slow.sock) is not None:
                            self._closed(slow, b"")
                        continue
                    slow.next_send = now + self.interval_s


@dataclass
class ProbeResult:
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.latencies) + sum(self.failures.values())

    def pct_ms(self, q: float) -> float:
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] * 1000.0


def probe(send: Callable[[], int], seconds: float, interval_s: float) -> ProbeResult:
    """Call ``send`` (returns an HTTP status, raises OSError) every ``interval_s`` for ``seconds``.

    One request at a time: a request that takes longer than the interval delays the next one
    (a stalled server gets fewer probes, each charged its full wait), and the run ends on time.
    """
    result = ProbeResult()
    end = time.monotonic() + seconds
    due = time.monotonic()
    while due < end:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        try:
            status = send()
        except OSError as exc:
            key = type(exc).__name__
            result.failures[key] = result.failures.get(key, 0) + 1
        else:
            if status == 200:
                result.latencies.append(time.perf_counter() - t0)
            else:
                result.failures[str(status)] = result.failures.get(str(status), 0) + 1
        due = max(due + interval_s, time.monotonic())
    return result
