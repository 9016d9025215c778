"""Formats every target needs: money, countries, languages, timestamps, carrier names.

Pure functions only. Targets import from here and never from each other.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pycountry

from connector.timeutil import parse_iso


def json_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else ``{}`` (a body may leave one out, or send null)."""
    return value if isinstance(value, dict) else {}


def to_decimal(value: Any) -> Decimal | None:
    """Shopify money (a string like ``"359.97"`` or, in refunds, a JSON number) → Decimal.

    Floats are converted through ``repr`` so 0.1 stays 0.1. None for missing/unparseable.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def format_amount(value: Any, places: int = 2) -> str | None:
    """Money as a plain decimal string with ``places`` decimals (``"359.97"``), or None."""
    number = to_decimal(value)
    if number is None:
        return None
    quantum = Decimal(1).scaleb(-places)
    try:
        return format(number.quantize(quantum, rounding=ROUND_HALF_UP), "f")
    except InvalidOperation:  # more digits than the decimal context holds, e.g. "1e999999"
        return None


def country_alpha2(code: Any) -> str | None:
    """A valid ISO 3166-1 alpha-2 code, upper-cased, or None."""
    if not isinstance(code, str) or len(code.strip()) != 2:
        return None
    codes = _country_codes(code.strip().upper())
    return codes[0] if codes else None


def country_alpha3(code: Any) -> str | None:
    """ISO 3166-1 alpha-2 (Shopify's ``country_code``) → alpha-3, or None when unknown."""
    if not isinstance(code, str) or len(code.strip()) != 2:
        return None
    codes = _country_codes(code.strip().upper())
    return codes[1] if codes else None


def language_iso2(locale: Any) -> str | None:
    """Shopify ``customer_locale`` (``"en"``, ``"pt-BR"``, ``"zh_CN"``) → ISO 639-1 code, or None."""
    if not isinstance(locale, str) or not locale.strip():
        return None
    primary = locale.strip().replace("_", "-").split("-")[0].lower()
    if len(primary) != 2:
        return None
    return primary if _is_language(primary) else None


# pycountry's look-ups take a lock and walk its lazy-loading wrapper on every call (~3% of a
# delivery's CPU, py-spy); the answers never change, and there are a few hundred codes at most.
@lru_cache(maxsize=1024)
def _country_codes(alpha2: str) -> tuple[str, str] | None:
    country = pycountry.countries.get(alpha_2=alpha2)
    return (country.alpha_2, country.alpha_3) if country else None


@lru_cache(maxsize=1024)
def _is_language(alpha2: str) -> bool:
    return pycountry.languages.get(alpha_2=alpha2) is not None


def utc_millis(value: Any) -> str | None:
    """Shopify timestamp → ``YYYY-MM-DDThh:mm:ss.sssZ`` in UTC, or None."""
    parsed = parse_iso(value) if isinstance(value, str) else None
    if parsed is None:
        return None
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def utc_date(value: Any) -> str | None:
    """Shopify timestamp → ``YYYY-MM-DD`` (UTC), or None."""
    parsed = parse_iso(value) if isinstance(value, str) else None
    return parsed.strftime("%Y-%m-%d") if parsed else None


def carrier_key(tracking_company: Any) -> str:
    """Normalise Shopify's free-text ``tracking_company`` for table look-ups (``"DHL Express"`` → ``"dhl express"``)."""
    if not isinstance(tracking_company, str):
        return ""
    return " ".join(tracking_company.lower().replace("_", " ").replace("-", " ").split())


def text(value: Any, limit: int | None = None) -> str | None:
    """A stripped non-empty string (cut to ``limit`` characters), or None."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    out = str(value).strip()
    if not out:
        return None
    return out[:limit] if limit else out


def order_number(order: Any, number_format: str, limit: int | None = None) -> str | None:
    """The order number as the merchant chose to show it at the target (``target.order_number``):
    ``name`` as Shopify shows it with the store's prefix (``#1001``, the default), or the bare
    ``number`` (``1001``). Either falls back to the other when it is missing."""
    if not isinstance(order, dict):
        return None
    name, number = text(order.get("name"), limit), text(order.get("order_number"), limit)
    if number_format == "number":
        return number or bare_number(name)
    return name or number


def bare_number(name: str | None) -> str | None:
    """``#1001`` or ``pl-1020`` → ``1001``/``1020``: the digits at the end of an order name."""
    digits = ""
    for char in reversed(name or ""):
        if not char.isdigit():
            break
        digits = char + digits
    return digits or None
