"""HTTP plumbing shared by the target clients: one status table, Retry-After, error reasons.

Classification of responses is one small table (:data:`STATUS_TABLE`); vendor clients pass
their own overrides for codes the vendor uses differently (e.g. Foxdeli's 409 "order exists").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from connector.errors import AccountError, PermanentDeliveryError, TransientDeliveryError
from connector.scrub import MAX_ERROR_TEXT, scrub_secrets
from connector.timeutil import utc_now

# "account": the credentials themselves are refused (a vendor's 401/403) — every order of the
# shop would be, so the shop waits rather than each order being dead-lettered.
Verdict = Literal["transient", "permanent", "account"]

# Retrying can help with these; every other 4xx/5xx means "this request will never succeed".
STATUS_TABLE: Mapping[int, Verdict] = {
    408: "transient",  # request timeout
    409: "permanent",  # conflict: vendors override when it means something specific
    423: "transient",  # locked
    425: "transient",  # too early
    429: "transient",  # rate limited: honour Retry-After
    500: "transient",
    502: "transient",
    503: "transient",
    504: "transient",
}
MAX_REASON = MAX_ERROR_TEXT


def classify_status(status: int, overrides: Mapping[int, Verdict] | None = None) -> Verdict | None:
    """None for a success (2xx/3xx), else "transient" or "permanent"."""
    if status < 400:
        return None
    if overrides and status in overrides:
        return overrides[status]
    if status in STATUS_TABLE:
        return STATUS_TABLE[status]
    return "permanent" if status < 500 else "transient"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return max(0.0, (moment - utc_now()).total_seconds())


def response_reason(response: requests.Response, secrets: tuple[str, ...] = ()) -> str:
    """A one-line reason from an error response: status plus the body's message, scrubbed of
    credentials (``secrets`` by value, common patterns) and shortened.

    The body is the other side's text: an echoing endpoint returns our Authorization header.
    """
    detail = ""
    # Only the head of a huge body is read: the reason is cut to MAX_REASON anyway.
    content = response.content or b""
    head = content[: MAX_REASON * 16]
    try:
        body: Any = json.loads(head) if len(head) == len(content) else None
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        detail = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    elif head:
        detail = head.decode(response.encoding or "utf-8", errors="replace").strip()
    reason = f"HTTP {response.status_code}"
    if detail:
        reason += f": {detail}"
    return scrub_secrets(reason, secrets)


def raise_for_response(
    response: requests.Response,
    overrides: Mapping[int, Verdict] | None = None,
    reason: str | None = None,
) -> None:
    """Raise Transient/Permanent/AccountError for an error response; return for a success."""
    verdict = classify_status(response.status_code, overrides)
    if verdict is None:
        return
    text = reason or response_reason(response)
    if verdict == "account":
        raise AccountError(text, status=response.status_code)
    if verdict == "transient":
        raise TransientDeliveryError(
            text,
            status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    raise PermanentDeliveryError(text, status=response.status_code)


class ThreadSessions:
    """One :class:`requests.Session` per thread, so one target object can serve every delivery
    thread (a Session is not documented thread-safe) while each thread keeps its connections."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = new_session()
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def new_session() -> requests.Session:
    """A session that does not re-read the environment on every request.

    With ``trust_env`` on, requests walks ``os.environ`` for proxies and reads ~/.netrc on each
    call — measured at a quarter of the worker's CPU per delivery. Proxies are still honoured:
    :func:`send_request` resolves them once per host from the same variables.
    """
    session = requests.Session()
    session.trust_env = False
    return session


@lru_cache(maxsize=256)
def _proxies_for(origin: str) -> dict[str, str]:
    # get_environ_proxies honours NO_PROXY for this origin, as requests itself would.
    return dict(requests.utils.get_environ_proxies(origin))


def send_request(
    session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: Any
) -> requests.Response:
    """``session.request`` with network failures turned into TransientDeliveryError.

    The reason names the method and path only: query strings and bodies may hold credentials.
    """
    parts = urlsplit(url)
    kwargs.setdefault("proxies", _proxies_for(f"{parts.scheme}://{parts.netloc}"))
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise TransientDeliveryError(f"timeout after {timeout:g}s: {method} {_path(url)}") from None
    except requests.ConnectionError as exc:
        kind = type(exc).__name__
        raise TransientDeliveryError(f"connection failed ({kind}): {method} {_path(url)}") from None
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"request failed ({type(exc).__name__}): {method} {_path(url)}") from None


def _path(url: str) -> str:
    return url.split("?", 1)[0]
