"""Credentials out of error texts: the one place every stored or logged error text goes through.

A target's error body is the other side's text: an echoing endpoint sends our ``Authorization``
header back, a token endpoint may quote the ``client_secret`` it was given, a proxy's error page
may hold anything. Such text ends up in the store (attempts, ``last_error``, the dead-letter
list, ``/admin/orders``) and in logs, so before that it passes :func:`scrub_secrets`:

* **known secrets by value** — every secret setting (``Settings.secret_values()``) and whatever a
  caller adds (a Foxdeli session token), also in their URL-encoded and JSON-escaped forms;
* **common patterns** — ``Bearer``/``Basic``/``Parcellab-API-Token`` credentials, ``key=value``
  and ``"key": "value"`` pairs whose key names a credential (``password``, ``token``,
  ``client_secret``, ``api_key``…), JWTs, Shopify access tokens (``shpat_…``), passwords in URLs;
* **bounded** to :data:`MAX_ERROR_TEXT` characters on one line (no log injection by newline).

Pure: no I/O. :func:`remember_secrets` keeps the process's known secrets for the log formatter,
which has no settings at hand.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MAX_ERROR_TEXT = 500
HIDDEN = "***"  # as `connector config` shows secrets
MIN_SECRET_LEN = 4  # shorter values would blank ordinary words
# Scrubbing looks at this much of a text at most: what lies beyond is cut anyway, and a hostile
# multi-megabyte error body must not cost the worker seconds of regex time.
SCAN_FACTOR = 8

# A key that names a credential: ends in one of these words (``api_token``, ``X-Shopify-Access-Token``).
_CREDENTIAL_KEY = (
    r"(?<![\w-])[\w-]*?(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|client[_-]?key"
    r"|private[_-]?key|cookie|authorization)(?![\w-])"
)
_KEY_VALUE = re.compile(
    rf"(?i)([\"']?{_CREDENTIAL_KEY}[\"']?\s*[:=]\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'[^']*'|(?:(?:bearer|basic|token|parcellab-api-token)\s+)?[^\s,;&}\]\"']+)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bearer xyz, Basic xyz, Parcellab-API-Token xyz (a header echoed outside a key: value pair)
    (re.compile(r"(?i)\b(bearer|basic|parcellab-api-token)(\s+)[\w.~+/=-]{6,}"), r"\1\2" + HIDDEN),
    # JWTs (Foxdeli's session token, Shopify ID tokens)
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), HIDDEN),
    # Shopify access/refresh/API tokens
    (re.compile(r"\bshp(?:at|ca|pa|ss|rt|ua)_[A-Za-z0-9]{8,}"), HIDDEN),
    # https://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1" + HIDDEN + "@"),
)


def _hide_value(match: re.Match[str]) -> str:
    """The key stays, the value goes; a quoted value keeps its quotes (JSON stays readable)."""
    key, value = match.group(1), match.group(2)
    if value[:1] in "\"'" and len(value) >= 2:
        return f"{key}{value[0]}{HIDDEN}{value[0]}"
    return key + HIDDEN


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

_remembered: frozenset[str] = frozenset()
_remembered_lock = threading.Lock()


def remember_secrets(values: Iterable[str]) -> None:
    """Add this process's known secrets (settings) to what :func:`scrub_remembered` hides."""
    global _remembered
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN}
    with _remembered_lock:
        _remembered = _remembered | new


def remembered_secrets() -> frozenset[str]:
    return _remembered


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in an echoed body: raw, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def _hide_known(text: str, known: Iterable[str]) -> str:
    forms = {form for secret in known if len(secret) >= MIN_SECRET_LEN for form in _forms(secret)}
    for form in sorted(forms, key=len, reverse=True):  # longest first: a secret inside another
        if form in text:
            text = text.replace(form, HIDDEN)
    return text


def scrub_secrets(text: object, known: Iterable[str] = (), limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` without credentials, on one line, at most ``limit`` characters."""
    value = text if isinstance(text, str) else str(text)
    value = value[: limit * SCAN_FACTOR]
    value = _hide_known(value, [*known, *_remembered])
    value = _KEY_VALUE.sub(_hide_value, value)
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    value = _CONTROL.sub(" ", value).strip()
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value
