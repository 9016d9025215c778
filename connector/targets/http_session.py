"""The target clients' HTTP session: requests' policy, without requests.

requests' own Python (building a PreparedRequest, merging settings, hooks, cookie jars, the
adapter) was 15% of the worker's CPU per delivered order, on top of urllib3 which does the
actual work. This session sends through ``http.client`` directly to an origin without a proxy
(``connector.targets.direct_http``: half urllib3's CPU per request) and through urllib3's proxy
managers otherwise, and keeps what requests did for the targets:

- TLS: certificates verified against the CA bundle requests uses (certifi's), hostnames checked;
- proxies from ``HTTP(S)_PROXY``/``ALL_PROXY`` honouring ``NO_PROXY``, resolved once per origin,
  credentials in the proxy URL sent as ``Proxy-Authorization`` (as requests does; ``trust_env``
  was already off, so neither ``~/.netrc`` nor ``REQUESTS_CA_BUNDLE`` was read);
- a timeout of ``t`` seconds for the connection and ``t`` for each read;
- redirects followed as requests follows them (at most 30; 301 from POST, 302 and 303 become a
  GET without body, 307/308 resend; ``Authorization`` dropped when the host changes);
- requests' default headers (User-Agent, gzip/deflate, keep-alive), bodies decoded.

Thread-safe: one session serves every delivery thread, each host keeping up to
:data:`POOL_MAXSIZE` idle connections (at least ``worker.concurrency`` is needed, else the
connections beyond the pool are closed after each request).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import urllib3
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    default_headers,
    get_encoding_from_headers,
    get_environ_proxies,
    select_proxy,
)

from connector import json_bytes
from connector.targets.direct_http import POOL_MAXSIZE, DirectPool, tls_context

MAX_REDIRECTS = 30  # requests' default
_REDIRECTS = (301, 302, 303, 307, 308)
_BODY_HEADERS = ("Content-Length", "Content-Type", "Transfer-Encoding")
_DEFAULT_HEADERS = dict(default_headers())
CERT_REQS = "CERT_REQUIRED"
_NO_RETRIES = urllib3.Retry(total=False, redirect=False)  # what retries=False becomes, built once


class TooManyRedirects(Exception):
    """More than :data:`MAX_REDIRECTS` redirects (requests raised its own TooManyRedirects)."""


class Headers(Protocol):
    """An answer's headers, looked up without regard to case (``http.client``'s message on the
    direct path, urllib3's ``HTTPHeaderDict`` through a proxy)."""

    def get(self, name: str, /) -> str | None: ...


class HttpResponse:
    """What the target clients read of an answer (the names requests' Response gives them)."""

    __slots__ = ("status_code", "headers", "content", "url")

    def __init__(self, status_code: int, headers: Headers, content: bytes, url: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.url = url

    @property
    def encoding(self) -> str | None:
        return get_encoding_from_headers(self.headers)  # type: ignore[arg-type]  # (it only calls get)

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed (ValueError when it is not JSON). The standard library's parser:
        ids beyond 64 bits stay exact ints."""
        return json.loads(self.content)


class HttpSession:
    def __init__(self) -> None:
        self._proxied: dict[str, urllib3.PoolManager] = {}
        self._proxies: dict[str, dict[str, str]] = {}
        # Each origin reached without a proxy: its pool of http.client connections, found once
        # (connector.targets.direct_http says why not urllib3's). A look-up per request
        # (parsing the URL again, requests' proxy selection) was ~20% of a request's CPU.
        self._origin_pools: dict[str, DirectPool] = {}
        self._tls: ssl.SSLContext | None = None
        self._timeouts: dict[float, urllib3.Timeout] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        data: bytes | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one request (following redirects); urllib3's exceptions on network failures."""
        sent = dict(_DEFAULT_HEADERS)
        sent.update(headers or {})
        body = data
        if json is not None and data is None:
            body = json_bytes.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        for _ in range(MAX_REDIRECTS + 1):
            sender, target = self._sender_for(url)
            answer_headers: Headers
            if isinstance(sender, DirectPool):
                status, answer_headers, content = sender.request(method, target, body, sent, timeout)
            else:
                raw = sender.urlopen(
                    method,
                    target,
                    body=body,
                    headers=sent,
                    timeout=self._timeout(timeout),
                    redirect=False,
                    retries=_NO_RETRIES,
                    preload_content=True,
                    decode_content=True,
                    assert_same_host=False,
                )
                status, answer_headers, content = raw.status, raw.headers, raw.data
            location = answer_headers.get("Location") if status in _REDIRECTS else None
            if not location:
                return HttpResponse(status, answer_headers, content, url)
            method, body, sent, url = _redirected(status, method, body, sent, url, location)
        raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    def _timeout(self, seconds: float) -> urllib3.Timeout:
        return self._timeouts.get(seconds) or self._timeouts.setdefault(
            seconds, urllib3.Timeout(connect=seconds, read=seconds)
        )

    def _sender_for(self, url: str) -> tuple[DirectPool | urllib3.PoolManager, str]:
        """Who sends a request to ``url``, and what to give it: the origin's own pool and the
        path (no proxy), or a proxy's pool manager and the whole URL."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pool = self._origin_pools.get(origin)
        if pool is not None:
            return pool, target
        manager = self._proxy_for(url, origin)
        if manager is not None:
            return manager, url
        with self._lock:
            pool = self._origin_pools.get(origin)
            if pool is None:
                if parts.scheme == "https" and self._tls is None:
                    self._tls = tls_context(DEFAULT_CA_BUNDLE_PATH)
                pool = DirectPool(parts.scheme, parts.hostname or "", parts.port, self._tls)
                self._origin_pools[origin] = pool
        return pool, target

    def _proxy_for(self, url: str, origin: str) -> urllib3.PoolManager | None:
        """The pool manager of the proxy ``url`` goes through, None when it goes direct."""
        proxies = self._proxies.get(origin)
        if proxies is None:
            # get_environ_proxies honours NO_PROXY for this origin, as requests itself did.
            proxies = self._proxies[origin] = dict(get_environ_proxies(origin))
        proxy = select_proxy(url, proxies)
        if not proxy:
            return None
        manager = self._proxied.get(proxy)
        if manager is None:
            with self._lock:
                manager = self._proxied.get(proxy) or _proxy_manager(proxy)
                self._proxied[proxy] = manager
        return manager

    def close(self) -> None:
        with self._lock:
            managers, self._proxied = list(self._proxied.values()), {}
            pools, self._origin_pools = list(self._origin_pools.values()), {}
        for pool in pools:
            pool.close()
        for manager in managers:
            manager.clear()


def _proxy_manager(proxy: str) -> urllib3.PoolManager:
    """A pool manager through ``proxy``, sending its URL's credentials as requests does."""
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if parts.scheme.startswith("socks"):
        from urllib3.contrib.socks import SOCKSProxyManager  # needs PySocks, as requests did

        return SOCKSProxyManager(
            proxy,
            username=unquote(parts.username or "") or None,
            password=unquote(parts.password or "") or None,
            maxsize=POOL_MAXSIZE,
            cert_reqs=CERT_REQS,
            ca_certs=DEFAULT_CA_BUNDLE_PATH,
        )
    proxy_headers = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        proxy_headers = urllib3.make_headers(proxy_basic_auth=credentials)
    return urllib3.ProxyManager(
        parts.geturl(),
        proxy_headers=proxy_headers,
        maxsize=POOL_MAXSIZE,
        cert_reqs=CERT_REQS,
        ca_certs=DEFAULT_CA_BUNDLE_PATH,
    )


def _redirected(
    status: int,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    url: str,
    location: str,
) -> tuple[str, bytes | None, dict[str, str], str]:
    """The next request of a redirect, by requests' rules (``Session.resolve_redirects``)."""
    if location.startswith("//"):
        location = f"{urlsplit(url).scheme}:{location}"
    target = urljoin(url, location)
    headers = dict(headers)
    if (
        (status == 303 and method != "HEAD")
        or (status == 302 and method != "HEAD")
        or (status == 301 and method == "POST")
    ):
        method = "GET"
    if status not in (307, 308):
        body = None
        for name in _BODY_HEADERS:
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    if _strips_auth(url, target):
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return method, body, headers, target


def _strips_auth(old: str, new: str) -> bool:
    """requests' ``should_strip_auth``: keep Authorization only on the same host (an http →
    https upgrade on the default ports counts as the same)."""
    a, b = urlsplit(old), urlsplit(new)
    if a.hostname != b.hostname:
        return True
    if a.scheme == "http" and a.port in (80, None) and b.scheme == "https" and b.port in (443, None):
        return False
    default = {"http": 80, "https": 443}
    return a.scheme != b.scheme or (a.port or default.get(a.scheme)) != (b.port or default.get(b.scheme))
