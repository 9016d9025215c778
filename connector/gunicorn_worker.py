"""The gunicorn worker class of ``connector serve``: slow clients cost a socket, not a worker.

gunicorn's ``sync`` worker gives a whole process to one connection until the request has
arrived; two clients trickling a byte at a time stopped all intake (issue 11). Here each worker
process reads requests with gevent (a greenlet per connection, so thousands of slow sockets
cost a few KB each) and hands every request, once it has arrived whole, to a small pool of real
threads that run the Flask app. So:

- a client has ``keepalive`` seconds to send its request line and headers (also the idle time
  allowed between requests on a kept-alive connection), and ``REQUEST_READ_TIMEOUT_S`` in all
  for the whole request, body included; then it is answered 408 (or dropped) and closed;
- the body is read here, at most one byte more than the app's ``MAX_CONTENT_LENGTH``: a longer
  one, declared or chunked, reaches the app as over-long (413) and the connection is closed;
- the app runs exactly as under gthread, in ``threads`` real threads per process with nothing
  monkey-patched: SQLite connections and ShopifyAPI's state stay per thread, a blocking call
  (SQLite's busy wait, an ``flock``, a call to Shopify) blocks one app thread and never the
  loop that reads the other connections, and background threads (a re-sync started from the
  admin API) stay real threads.
"""

from __future__ import annotations

import io
import socket
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.pool import Pool
from gevent.server import StreamServer
from gevent.threadpool import ThreadPool
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker

from connector.worker.gc_tuning import tune_gc_for_worker

# The loop thread reads and writes every connection of the process, in short bursts that each need
# the GIL; by default a thread running the app keeps it up to 5 ms before handing it over, and the
# loop (with every connection behind it) waits. Measured here: 0.5 ms gave the connector more
# webhooks/s than 5 ms in every interleaved round (4 of 4; 1 ms: 3 of 4).
GIL_SWITCH_INTERVAL_S = 0.0005
# A Shopify delivery arrives in one go and Shopify gives up after 5 s; 10 s allows a slow link.
REQUEST_READ_TIMEOUT_S = 10.0
_TIMEOUT_BODY = b'{"error":"request not received in time"}'
TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


# The worker processes share one listening socket, and the kernel wakes every one of them for a
# new connection: whichever gets there first wins the accept(), so kept-alive clients (Shopify
# keeps its connections open) often all landed on one process while the others idled (8 clients
# of bench/ingest.py were on one of the 2 workers in most runs). So a worker that already holds
# connections waits a moment, growing with how many, before it takes a new one: a less busy worker
# takes it first, as in least-connections balancing. A worker holding none accepts at once, and
# the wait is capped, so a lone or hung other worker costs a new connection at most the cap.
ACCEPT_DEFER_PER_CONNECTION_S = 0.00025
ACCEPT_DEFER_MAX_S = 0.0025


class _ReadTimeout(Exception):
    """The client did not send its whole request within the read deadline."""


def _run_app(app: WSGIApp, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """Call the WSGI app and collect its whole answer (in an app thread)."""
    result = app(environ, start_response)
    try:
        return list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


class _FairShareServer(StreamServer):
    """A StreamServer that leaves a new connection to a less busy worker process first (see
    ACCEPT_DEFER_PER_CONNECTION_S). gevent calls ``_do_read`` when the listener is readable."""

    max_accept = 1

    def _do_read(self) -> None:
        held = len(self.pool)  # connections this process is serving
        if not held:
            super()._do_read()
            return
        self.stop_accepting()
        # gevent's own retry-after-error timer: stop_accepting() and stop() cancel it.
        self._timer = self.loop.timer(min(held * ACCEPT_DEFER_PER_CONNECTION_S, ACCEPT_DEFER_MAX_S))
        self._timer.start(self._accept_after_deferring)

    def _accept_after_deferring(self) -> None:
        if not self.started:
            return
        super()._do_read()  # the connection, unless another worker took it meanwhile
        if not self.full():  # full: gevent starts accepting again once a connection ends
            self.start_accepting()


class ConnectorWorker(GeventWorker):
    """gevent reads and writes the sockets; a thread pool runs the app (see the module doc)."""

    sockets: list[Any]  # gunicorn's listeners, then gevent sockets (patch)
    wsgi: WSGIApp

    def patch(self) -> None:
        # Deliberately no monkey.patch_all(): only the listening sockets become gevent sockets.
        self.sockets = [gsocket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach()) for s in self.sockets]

    def init_process(self) -> None:
        if not self.cfg.keepalive:
            # gunicorn times the wait for headers only on kept-alive connections: without it, a
            # client could take for ever to send them.
            self.log.warning("keepalive 0 is raised to 1 s: it also bounds the wait for a request's headers")
            self.cfg.set("keepalive", 1)
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi
        config = getattr(app, "config", None) or {}
        self.max_body_bytes: int | None = config.get("MAX_CONTENT_LENGTH")
        self.app_threads = ThreadPool(max(1, self.cfg.threads))
        self.wsgi = lambda environ, start_response: self.app_threads.apply(_run_app, (app, environ, start_response))
        # The app is loaded: its start-up objects leave the garbage collector's every pass, as in
        # the delivery worker. Same run of bench/ingest.py: 6% less CPU per webhook (1.42 vs 1.51 ms).
        tune_gc_for_worker()

    def run(self) -> None:
        """gunicorn's GeventWorker.run (gunicorn 23–25), with the fair-share server when there are
        several worker processes to share the listener with."""
        server_class = _FairShareServer if self.cfg.workers > 1 else StreamServer
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        servers = []
        for listener in self.sockets:
            listener.setblocking(1)
            server = server_class(
                listener, handle=partial(self.handle, listener), spawn=Pool(self.worker_connections), **ssl_args
            )
            server.start()
            servers.append(server)
        while self.alive:
            self.notify()
            gevent.sleep(1.0)
        try:
            for server in servers:  # stop accepting; let the requests in hand finish
                server.close()
            started = time.time()
            while time.time() - started <= self.cfg.graceful_timeout:
                if all(server.pool.free_count() == server.pool.size for server in servers):
                    return
                self.notify()
                gevent.sleep(1.0)
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
            for server in servers:
                server.stop(timeout=1)
        except Exception:  # noqa: BLE001 - shutting down anyway, as gunicorn does
            pass

    def timeout_ctx(self) -> gevent.Timeout:
        """The wait for a request line and headers (gunicorn times each request's with this)."""
        gevent.getcurrent().request_read_started = time.monotonic()
        return gevent.Timeout(min(self.cfg.keepalive, REQUEST_READ_TIMEOUT_S), False)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        started = getattr(gevent.getcurrent(), "request_read_started", time.monotonic())
        try:
            with gevent.Timeout(max(0.0, started + REQUEST_READ_TIMEOUT_S - time.monotonic()), _ReadTimeout):
                self._buffer_body(req)
        except _ReadTimeout:
            self.log.info(
                "request from %s not received within %.0f s: closed", addr[0] if addr else "-", REQUEST_READ_TIMEOUT_S
            )
            try:
                sock.sendall(TIMEOUT_ANSWER)
            except OSError:
                pass
            raise StopIteration() from None
        return super().handle_request(listener_name, req, sock, addr)

    def _buffer_body(self, req: Any) -> None:
        """Read the whole body (at most one byte past the app's limit) so the app never waits."""
        if req.body is None:
            return
        limit = self.max_body_bytes
        declared = next((int(v) for n, v in req.headers if n == "CONTENT-LENGTH"), None)  # gunicorn checked it
        if limit is not None and declared is not None and declared > limit:
            req.must_close = True  # the app answers 413 from the header; the body is never read
            req.body = io.BytesIO()
            return
        body = req.body.read(None if limit is None else limit + 1)
        if limit is not None and len(body) > limit:
            req.must_close = True  # the rest of it is still on the socket
        # The app sees a plain body of known length; one cut at limit + 1 (chunked or not) is
        # declared as what was read, so the app answers 413 instead of checking a truncated body.
        req.headers = [(n, v) for n, v in req.headers if n not in ("CONTENT-LENGTH", "TRANSFER-ENCODING")]
        req.headers.append(("CONTENT-LENGTH", str(len(body))))
        req.body = io.BytesIO(body)
