"""Recipient timezone from the destination country, when the country has only one clock.

parcelLab calls ``timezone`` "not required, but strongly recommended" (seed 000): it times
notifications. Shopify never sends the buyer's timezone, but for most countries the country
settles it. We read the IANA ``zone.tab`` shipped with the ``tzdata`` package (static data, so
the mapping stays deterministic) and answer only when every zone of the country keeps the same
clock (Germany's Europe/Busingen follows Europe/Berlin); the US, Canada, Spain (Canaries) etc.
get no timezone rather than a wrong one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Two instants a year apart from DST switches: equal offsets at both means the same clock.
_PROBES = (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC))


@lru_cache(maxsize=1)
def _zones_by_country() -> dict[str, list[str]]:
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) >= 3:
            zones.setdefault(columns[0].upper(), []).append(columns[2])
    return zones


@lru_cache(maxsize=512)
def country_timezone(alpha2: str | None) -> str | None:
    """IANA timezone for an ISO 3166-1 alpha-2 country with a single clock, else None."""
    if not alpha2:
        return None
    names = _zones_by_country().get(alpha2.upper(), [])
    if not names:
        return None
    try:
        clocks = {tuple(probe.astimezone(ZoneInfo(name)).utcoffset() for probe in _PROBES) for name in names}
    except ZoneInfoNotFoundError:
        return None
    return names[0] if len(clocks) == 1 else None
