"""The target clients' HTTP session keeps requests' policy: redirects, proxies, timeouts, errors.

Real sockets: a stand-in on 127.0.0.1 that redirects, echoes, or acts as an HTTP proxy.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from connector.errors import TransientDeliveryError
from connector.sandbox.server import Request, Response, StandIn
from connector.targets.http_session import MAX_REDIRECTS, HttpSession
from connector.targets.httpclient import send_request


class Redirecting(StandIn):
    """``/to/<status>`` answers that redirect to ``/echo`` (or ``?loc=``); ``/echo`` tells what
    it got; a proxied request (absolute URL in the request line) is recorded as such."""

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/to/"):
            status = int(request.path.rsplit("/", 1)[1])
            return Response(status, headers={"Location": request.query.get("loc", ["/echo"])[0]})
        if request.path == "/loop":
            return Response(302, headers={"Location": "/loop"})
        return Response(200, {"method": request.method, "body": request.body.decode(), "headers": request.headers,
                              "id": 2**64 + 1})


@pytest.fixture(scope="module")
def server() -> Iterator[Redirecting]:
    with Redirecting() as running:
        yield running  # type: ignore[misc]


def echo(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200
    return answer.json()


@pytest.mark.parametrize(("status", "method", "expected"), [
    (301, "POST", "GET"), (301, "PUT", "PUT"), (302, "PUT", "GET"), (303, "PATCH", "GET"),
])
def test_redirects_change_method_and_drop_the_body_as_requests_did(session, server, status, method, expected) -> None:
    got = echo(session.request(method, f"{server.url}/to/{status}", timeout=2, json={"a": 1}))
    assert got["method"] == expected and got["body"] == ""
    assert "Content-Type" not in got["headers"]


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_resend_the_same_request(session, server, status) -> None:
    got = echo(session.request("POST", f"{server.url}/to/{status}", timeout=2, json={"a": 1}))
    assert got["method"] == "POST" and json.loads(got["body"]) == {"a": 1}


def test_authorization_is_kept_on_the_same_host_and_dropped_on_another(session, server) -> None:
    headers = {"Authorization": "Bearer secret", "X-API-Key": "k"}
    same = echo(session.request("GET", f"{server.url}/to/302", timeout=2, headers=headers))
    assert same["headers"]["Authorization"] == "Bearer secret"
    other = server.url.replace("127.0.0.1", "localhost") + "/echo"
    moved = echo(session.request("GET", f"{server.url}/to/302?loc={other}", timeout=2, headers=headers))
    assert "Authorization" not in moved["headers"] and moved["headers"]["X-API-Key"] == "k"


def test_a_redirect_loop_is_a_transient_failure_after_the_limit(session, server) -> None:
    server.requests.clear()
    with pytest.raises(TransientDeliveryError, match="TooManyRedirects"):
        send_request(session, "GET", f"{server.url}/loop", timeout=2)
    assert len(server.requests) == MAX_REDIRECTS + 1


def test_requests_default_headers_and_exact_big_ids(session, server) -> None:
    got = echo(session.request("GET", f"{server.url}/echo", timeout=2, params={"q": "a b"}))
    assert got["headers"]["User-Agent"].startswith("python-requests/") and "gzip" in got["headers"]["Accept-Encoding"]
    assert got["id"] == 2**64 + 1 and isinstance(got["id"], int)


def test_proxy_from_the_environment_is_used_unless_no_proxy(monkeypatch, server) -> None:
    with Redirecting() as proxy:
        monkeypatch.setenv("HTTP_PROXY", "http://user:p%40ss@" + proxy.url.split("//", 1)[1])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        target = server.url.replace("127.0.0.1", "localhost") + "/echo"
        session = HttpSession()
        try:
            got = echo(session.request("GET", target, timeout=2))
        finally:
            session.close()
        proxied = {k.lower(): v for k, v in got["headers"].items()}
        assert proxied["proxy-authorization"] == "Basic dXNlcjpwQHNz"  # it reached the proxy, with "user:p@ss"
        monkeypatch.setenv("NO_PROXY", "localhost")
        session = HttpSession()
        try:
            got = echo(session.request("GET", target, timeout=2))
        finally:
            session.close()
        assert "proxy-authorization" not in {k.lower() for k in got["headers"]}


def test_timeouts_and_refused_connections_are_transient(session, server) -> None:
    server.fail_next(1, delay_s=1.0)
    with pytest.raises(TransientDeliveryError, match=r"timeout after 0.2s: GET"):
        send_request(session, "GET", f"{server.url}/echo?secret=x", timeout=0.2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientDeliveryError, match=r"connection failed \(\w+\): GET http://127.0.0.1:\d+/x$"):
        send_request(session, "GET", f"http://127.0.0.1:{port}/x?token=t", timeout=1)
