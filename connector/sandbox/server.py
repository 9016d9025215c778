"""A tiny threaded HTTP server for stand-ins: real sockets, real HTTP, no mocks.

Subclass :class:`StandIn`, implement ``handle(request) -> Response``; start with ``with
MyStandIn() as s: s.url``. Faults can be injected with :meth:`StandIn.fail_next`, or at random
with :attr:`StandIn.flaky`; :attr:`StandIn.observers` see every request and its answer (the
sandbox prints them).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, (bytes, str)):
            return self.body if isinstance(self.body, bytes) else self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    """One injected failure: an HTTP status (with headers), a delay, or a dropped connection."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0
    drop: bool = False


class StandIn:
    """Base class: threaded server, request log, fault queue, optional latency."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.flaky: tuple[float, Fault] | None = None  # (probability, fault) for any request
        self.observers: list[Callable[[Request, Response], None]] = []
        self._random = random.Random()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to implement -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- control ------------------------------------------------------------------------------
    def fail_next(self, count: int = 1, **fault: Any) -> None:
        """Queue ``count`` copies of a fault, e.g. ``fail_next(3, status=503)``."""
        with self.lock:
            self.faults.extend(Fault(**fault) for _ in range(count))

    def _random_fault(self) -> Fault | None:
        """The :attr:`flaky` fault, with its probability (under :attr:`lock`)."""
        if self.flaky is None or self._random.random() >= self.flaky[0]:
            return None
        return self.flaky[1]

    @property
    def url(self) -> str:
        assert self._server is not None, "stand-in not started"
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The client died mid-request (e.g. a SIGKILLed worker): a real server never
                    # sees such a request either, so it is neither handled nor logged.
                    self.close_connection = True
                    return
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers=dict(self.headers.items()),
                    body=body,
                )
                with standin.lock:
                    standin.requests.append(request)
                    fault = standin.faults.pop(0) if standin.faults else standin._random_fault()
                if standin.latency_s:
                    time.sleep(standin.latency_s)
                if fault is not None:
                    if fault.delay_s:
                        time.sleep(fault.delay_s)
                    if fault.drop:
                        self.close_connection = True
                        self.connection.close()
                        return
                    if fault.status is not None:
                        self._reply(request, Response(fault.status, fault.body, dict(fault.headers)))
                        return
                self._reply(request, standin.handle(request))

            def _reply(self, request: Request, response: Response) -> None:
                for observe in list(standin.observers):
                    observe(request, response)
                payload = response.encoded()
                self.send_response(response.status)
                if payload:
                    self.send_header("Content-Type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
