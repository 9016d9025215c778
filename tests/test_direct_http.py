"""Direct (unproxied) requests go through pooled ``http.client`` connections and keep what
urllib3 did for the connector: keep-alive reuse, no reuse of a connection the server closed,
gzip/deflate bodies decoded, TLS verified, network and protocol failures transient.

Real sockets: a small HTTP/1.1 server on 127.0.0.1 (TLS with a self-signed certificate) that
counts the connections it accepts.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import ssl
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.errors import TransientDeliveryError
from connector.targets.direct_http import DirectPool, tls_context
from connector.targets.http_session import HttpSession
from connector.targets.httpclient import send_request
from tests.nginx_support import self_signed_certificate

BODY = b'{"ok": true, "text": "' + b"x" * 3000 + b'"}'
ANSWERS: dict[str, tuple[dict[str, str], bytes]] = {
    "/plain": ({}, BODY),
    "/gzip": ({"Content-Encoding": "gzip"}, gzip.compress(BODY)),
    "/deflate": ({"Content-Encoding": "deflate"}, zlib.compress(BODY)),
    "/raw-deflate": ({"Content-Encoding": "deflate"}, zlib.compress(BODY)[2:-4]),
    "/broken-gzip": ({"Content-Encoding": "gzip"}, b"not gzip at all"),
    "/close": ({"Connection": "close"}, BODY),
}


class Server(socketserver.ThreadingTCPServer):
    """Answers the paths of :data:`ANSWERS` (``/hang-up``: answers, then closes the socket without
    saying so; ``/garbage``: not HTTP at all), keeping connections alive otherwise."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.tls = tls
        self.connections = 0
        self.ended = threading.Semaphore(0)  # released as each connection ends
        self.requests: list[tuple[str, str]] = []  # (method, path)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"


class Handler(socketserver.BaseRequestHandler):
    server: Server

    def handle(self) -> None:
        self.server.connections += 1
        try:
            self._serve()
        finally:
            self.server.ended.release()

    def _serve(self) -> None:
        sock = self.request
        if self.server.tls:
            try:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate
        try:
            self._exchange(sock)
        finally:
            if sock is not self.request:
                sock.close()

    def _exchange(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        while True:
            line = reader.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            path = target.split("?", 1)[0]
            length = 0
            while (header := reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reader.read(length)
            self.server.requests.append((method, path))
            if path == "/garbage":
                sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                return
            headers, body = ANSWERS.get(path, ({}, BODY))
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(f"HTTP/1.1 200 OK\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            if path in ("/close", "/hang-up"):
                sock.close()
                return


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        threading.Thread(target=running.serve_forever, daemon=True).start()
        yield running
        running.shutdown()


def test_one_connection_carries_every_request_in_turn(session: HttpSession, server: Server) -> None:
    for _ in range(5):
        assert session.request("PUT", f"{server.url}/plain", data=b"{}", timeout=2).content == BODY
    assert server.connections == 1 and len(server.requests) == 5


def test_a_connection_the_server_closed_while_idle_is_not_reused(session: HttpSession, server: Server) -> None:
    session.request("GET", f"{server.url}/hang-up", timeout=2)
    assert server.ended.acquire(timeout=2)  # (as a server's idle timeout would, later)
    # Reusing the closed socket would fail this request; a fresh connection carries it.
    assert session.request("POST", f"{server.url}/plain", data=b"{}", timeout=2).status_code == 200
    assert server.connections == 2


def test_connection_close_is_honoured(session: HttpSession, server: Server) -> None:
    session.request("GET", f"{server.url}/close", timeout=2)
    session.request("GET", f"{server.url}/plain", timeout=2)
    assert server.connections == 2


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/raw-deflate"])
def test_compressed_bodies_are_decoded(session: HttpSession, server: Server, path: str) -> None:
    answer = session.request("GET", f"{server.url}{path}", timeout=2)
    assert answer.content == BODY and answer.json()["ok"] is True


def test_a_body_that_does_not_decode_is_a_transient_failure(session: HttpSession, server: Server) -> None:
    with pytest.raises(
        TransientDeliveryError, match=r"connection failed \(DecodeError\): GET http://127.0.0.1:\d+/broken-gzip$"
    ):
        send_request(session, "GET", f"{server.url}/broken-gzip?token=t", timeout=2)
    assert session.request("GET", f"{server.url}/plain", timeout=2).status_code == 200  # and the next works


def test_an_answer_that_is_not_http_is_a_transient_failure(session: HttpSession, server: Server) -> None:
    with pytest.raises(TransientDeliveryError, match=r"connection failed \(BadStatusLine\): GET"):
        send_request(session, "GET", f"{server.url}/garbage", timeout=2)


def test_tls_is_verified(tmp_path: Path, session: HttpSession) -> None:
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with Server(tls) as running:
        threading.Thread(target=running.serve_forever, daemon=True).start()
        try:
            # The shipped CA bundle does not know a self-signed certificate: refused.
            with pytest.raises(TransientDeliveryError, match=r"connection failed \(SSLCertVerificationError\)"):
                send_request(session, "GET", f"{running.url}/plain", timeout=2)
            assert not running.requests
            # Trusted, it is spoken to over TLS, and its connection kept alive.
            pool = DirectPool("https", "127.0.0.1", running.server_address[1], tls_context(str(cert)))
            for _ in range(2):
                status, headers, content = pool.request("GET", "/plain", None, {}, 2)
                assert (status, content, headers.get("content-length")) == (200, BODY, str(len(BODY)))
            assert running.connections == 2  # the refused one, then one for both requests
            pool.close()
            # Trusted, but not for this host name (the certificate names 127.0.0.1 and another).
            elsewhere = DirectPool("https", "localhost", running.server_address[1], tls_context(str(cert)))
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                elsewhere.request("GET", "/plain", None, {}, 2)
            assert len(running.requests) == 2
        finally:
            running.shutdown()


def test_a_closed_session_closes_its_idle_connections(session: HttpSession, server: Server) -> None:
    session.request("GET", f"{server.url}/plain", timeout=2)
    assert not server.ended.acquire(timeout=0.2)  # kept alive
    session.close()
    assert server.ended.acquire(timeout=2)  # the server saw it end
