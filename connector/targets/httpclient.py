"""HTTP plumbing shared by the target clients: one status table, Retry-After, error reasons.

Classification of responses is one small table (:data:`STATUS_TABLE`); vendor clients pass
their own overrides for codes the vendor uses differently (e.g. Foxdeli's 409 "order exists").
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import urllib3

from connector.errors import AccountError, PermanentDeliveryError, TransientDeliveryError
from connector.scrub import MAX_ERROR_TEXT, scrub_secrets
from connector.targets.http_session import HttpResponse, HttpSession, TooManyRedirects
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


def response_reason(response: HttpResponse, secrets: tuple[str, ...] = ()) -> str:
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
    response: HttpResponse,
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


class LazySession:
    """One :class:`HttpSession`, opened on first use and shared by every delivery thread (its
    connection pools are thread-safe), so one target object serves the whole worker."""

    def __init__(self) -> None:
        self._session: HttpSession | None = None
        self._lock = threading.Lock()

    def get(self) -> HttpSession:
        session = self._session
        if session is None:
            with self._lock:
                session = self._session = self._session or new_session()
        return session

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


def new_session() -> HttpSession:
    """A session for one target (or one check): pooled keep-alive connections per host."""
    return HttpSession()


def send_request(session: HttpSession, method: str, url: str, *, timeout: float, **kwargs: Any) -> HttpResponse:
    """``session.request`` with network failures turned into TransientDeliveryError.

    The reason names the method and path only: query strings and bodies may hold credentials.
    """
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError, but refused
        raise TransientDeliveryError(f"connection failed ({_failure_kind(exc)}): {method} {_path(url)}") from None
    except (urllib3.exceptions.TimeoutError, TimeoutError):  # (through a proxy, and direct)
        raise TransientDeliveryError(f"timeout after {timeout:g}s: {method} {_path(url)}") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        kind = _failure_kind(exc)
        raise TransientDeliveryError(f"connection failed ({kind}): {method} {_path(url)}") from None
    except TooManyRedirects:
        raise TransientDeliveryError(f"request failed (TooManyRedirects): {method} {_path(url)}") from None


def _failure_kind(exc: BaseException) -> str:
    """The name of what failed: urllib3 wraps the socket's or TLS's error in its own."""
    reason = getattr(exc, "reason", None)
    return type(reason if isinstance(reason, BaseException) else exc).__name__


def _path(url: str) -> str:
    return url.split("?", 1)[0]
