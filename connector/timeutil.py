"""Timestamps: Shopify's ISO-8601 with offsets in, UTC out.

Stored times are UTC strings of one fixed shape (``2026-11-25T12:00:00.000000Z``) so SQLite can
compare them as text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def parse_iso(value: str | None) -> datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` or an offset); None for empty or unparseable input.

    A timestamp without an offset is taken as UTC.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_db_time(moment: datetime) -> str:
    """The fixed-width UTC text form used in the store."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize_iso(value: str | None) -> str | None:
    """Shopify timestamp → store form, or None when it cannot be read."""
    parsed = parse_iso(value)
    return to_db_time(parsed) if parsed else None


def utc_now() -> datetime:
    return datetime.now(UTC)


def now_db() -> str:
    """Now in the store form: :func:`to_db_time` of :func:`utc_now`, without building a datetime
    (every stored webhook asks; this is a third of the cost)."""
    return _NOW.format(time.time())


def db_time_in(seconds: float) -> str:
    """Store form of now + ``seconds``."""
    return _LATER.format(time.time() + seconds)


class _EpochFormatter:
    """Epoch seconds → store form, the date and time part formatted once per second: the worker
    asks 6-8 times per delivered order, and ``strftime`` was most of each call. One per call
    site, so that now and now + a lease do not take turns evicting each other's second."""

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")

    def format(self, moment: float) -> str:
        whole = int(moment)
        micros = min(999_999, int((moment - whole) * 1_000_000))
        cached = self._last  # one tuple, read and replaced whole: safe across threads
        if cached[0] != whole:
            cached = self._last = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
        return f"{cached[1]}.{micros:06d}Z"


_NOW = _EpochFormatter()
_LATER = _EpochFormatter()
