"""Keep-alive connections to one origin reached without a proxy: the standard library's
``http.client``, pooled.

The delivery worker spends its CPU per order mostly in Python, and the HTTP exchange was the
largest part of it: urllib3's pool, its connection and response classes over ``http.client``
cost about twice what ``http.client`` costs alone (0.57–0.68 against 0.29–0.35 ms of client CPU
per request to a loopback stand-in, ``bench/deliver.py``'s parcelLab PUT). For an origin without
a proxy — every target in most deployments — :class:`DirectPool` sends with ``http.client``
itself and keeps what urllib3 gave the connector:

- TLS verified against the same CA bundle (certifi's, as requests uses), hostnames checked;
- a timeout of ``t`` seconds for the connection and ``t`` for each read;
- an idle connection the server has closed meanwhile is never reused (urllib3's
  ``is_connection_dropped``: a readable idle socket is a closed one);
- bodies decoded as the default ``Accept-Encoding`` asks for (gzip, deflate);
- no retry of its own (urllib3 ran with ``retries=False``): a failed request is the delivery's
  to retry, with its back-off.

Proxied origins, SOCKS included, keep urllib3 (``connector.targets.http_session``).
"""

from __future__ import annotations

import gzip
import http.client
import select
import ssl
import weakref
import zlib
from collections import deque
from email.message import Message

# Idle connections kept per origin (and per proxy): the largest worker.concurrency allowed
# (connector.config), so every delivery thread's connection is kept.
POOL_MAXSIZE = 256


class DecodeError(http.client.HTTPException):
    """A body whose Content-Encoding does not decode (urllib3 raised its DecodeError)."""


def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """Certificates verified against ``ca_bundle``, hostnames checked, TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class DirectPool:
    """Idle keep-alive connections to ``scheme://host:port``, shared by every delivery thread
    (``deque``'s append and pop are atomic)."""

    def __init__(self, scheme: str, host: str, port: int | None, tls: ssl.SSLContext | None) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        self.scheme, self.host, self.port = scheme, host, port
        self._tls = tls
        self._idle: deque[http.client.HTTPConnection] = deque()
        self.closed = False
        # A pool dropped without close() still closes its sockets (urllib3's pools do the same).
        weakref.finalize(self, _close_all, self._idle)

    def request(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, Message, bytes]:
        """Send one request and read the whole answer: (status, headers, decoded body).
        ``OSError`` (``TimeoutError`` for a timeout) or ``http.client.HTTPException`` when the
        network or the server's answer fails."""
        connection = self._connection(timeout)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close or self.closed or len(self._idle) >= POOL_MAXSIZE:
            connection.close()
        else:
            self._idle.append(connection)
        return response.status, response.msg, _decoded(content, response.msg.get("Content-Encoding"))

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                break
            sock = connection.sock
            if sock is None or _dropped(sock):
                connection.close()
                continue
            connection.timeout = timeout
            sock.settimeout(timeout)
            return connection
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def close(self) -> None:
        self.closed = True
        _close_all(self._idle)


def _close_all(idle: deque[http.client.HTTPConnection]) -> None:
    while idle:
        try:
            idle.pop().close()
        except IndexError:  # taken by another thread meanwhile
            break


def _dropped(sock: object) -> bool:
    """An idle keep-alive socket that is readable has been closed by the server (or sent
    something unasked): either way it cannot carry the next request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)  # type: ignore[arg-type]
    return bool(poller.poll(0))


def _decoded(content: bytes, encoding: str | None) -> bytes:
    """The body with its Content-Encoding undone (gzip, deflate; the last applied first), as
    urllib3's ``decode_content`` does for the encodings the connector asks for. Anything else is
    returned as it came."""
    if not encoding or not content:
        return content
    try:
        return _undo(content, encoding)
    except (OSError, EOFError, zlib.error) as exc:
        raise DecodeError(f"cannot decode the {encoding} body: {exc}") from None


def _undo(content: bytes, encoding: str) -> bytes:
    for coding in reversed([part.strip().lower() for part in encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            content = gzip.decompress(content)
        elif coding == "deflate":
            try:  # zlib-wrapped, as the RFC says; some servers send raw deflate
                content = zlib.decompress(content)
            except zlib.error:
                content = zlib.decompress(content, -zlib.MAX_WBITS)
        elif coding != "identity":
            break
    return content
