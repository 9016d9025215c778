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
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.threadpool import ThreadPool
from gunicorn.workers.ggevent import GeventWorker

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
