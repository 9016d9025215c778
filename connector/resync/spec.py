"""What a re-sync or reconcile job is asked to do (pure: parsing, validation, search strings).

Shared by the admin API and the CLI so both refuse the same input with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.errors import BadRequestError
from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.ids import gid_id, shopify_id
from connector.timeutil import parse_iso

MAX_ORDER_IDS = 1000
# Without the read_all_orders scope Shopify returns only orders of the last 60 days
# (https://shopify.dev/docs/api/usage/access-scopes#orders-permissions).
ORDER_WINDOW_DAYS = 60
# re.ASCII: \d would also match "٧٢" (and float() would read it).
_DURATION = re.compile(r"\A\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smhdw]?)\s*\Z", re.IGNORECASE | re.ASCII)
# A reconcile window longer than this asks Shopify for more than a re-sync should: use resync --since.
MAX_WINDOW_S = 366 * 86400
# Shopify ids are UnsignedInt64 (legacyResourceId): at most 20 digits.
MAX_ID = 2**64 - 1
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class ResyncSpec:
    shop: str
    order_ids: tuple[str, ...] = ()
    since: str | None = None  # ISO-8601 UTC, "Z"
    until: str | None = None
    silent: bool = False

    def params(self) -> dict[str, Any]:
        return {"order_ids": list(self.order_ids), "since": self.since, "until": self.until, "silent": self.silent}


def check_shop(shop: Any) -> str:
    if not isinstance(shop, str) or not shop:
        raise BadRequestError('"shop" is required: the shop\'s domain, e.g. "name.myshopify.com"')
    if not is_valid_shop_domain(shop):
        raise BadRequestError(f'"shop" must be a domain like name.myshopify.com, got {shop!r}')
    return shop


def _iso(name: str, value: Any) -> datetime:
    parsed = parse_iso(value) if isinstance(value, str) else None
    if parsed is None:
        raise BadRequestError(f'"{name}" must be an ISO-8601 time like 2026-11-01T00:00:00Z, got {value!r}')
    return parsed


def _order_id(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else value
    order_id = shopify_id(text)
    if order_id is None and isinstance(text, str) and text.startswith("gid://shopify/Order/"):
        order_id = gid_id(text)
    if order_id and len(order_id) <= 20 and int(order_id) <= MAX_ID:
        return order_id
    raise BadRequestError(f'"order_ids" must hold numeric Shopify order ids, got {str(value)[:40]!r}')


def _order_ids(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestError('"order_ids" must be a non-empty list of Shopify order ids')
    if len(raw) > MAX_ORDER_IDS:
        raise BadRequestError(
            f'"order_ids" holds {len(raw)} ids; at most {MAX_ORDER_IDS} per job (use "since" for more)'
        )
    return tuple(dict.fromkeys(_order_id(v) for v in raw))


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_resync_request(body: Any, now: datetime) -> ResyncSpec:
    """Validate ``{"shop", "order_ids" | "since" [, "until"], "silent"}``; BadRequestError says why."""
    if not isinstance(body, dict):
        raise BadRequestError(
            'expected a JSON object like {"shop": "name.myshopify.com", "since": "2026-11-01T00:00:00Z"}'
        )
    unknown = sorted(set(body) - {"shop", "order_ids", "since", "until", "silent"})
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)}")
    shop = check_shop(body.get("shop"))
    has_ids, has_since = body.get("order_ids") is not None, body.get("since") is not None
    if has_ids == has_since:
        raise BadRequestError(
            'give exactly one of "order_ids" (a list of Shopify order ids) or "since" (an ISO-8601 time)'
            + (", not both" if has_ids else "")
        )
    silent = body.get("silent", False)
    if not isinstance(silent, bool):
        raise BadRequestError('"silent" must be true or false')
    if has_ids:
        if body.get("until") is not None:
            raise BadRequestError('"until" goes with "since", not with "order_ids"')
        return ResyncSpec(shop=shop, order_ids=_order_ids(body["order_ids"]), silent=silent)
    since = _iso("since", body["since"])
    if since > now:
        raise BadRequestError(f'"since" is in the future: {body["since"]}')
    until = _iso("until", body["until"]) if body.get("until") is not None else None
    if until is not None and until <= since:
        raise BadRequestError('"until" must be later than "since"')
    return ResyncSpec(shop=shop, since=_z(since), until=_z(until) if until else None, silent=silent)


def window_notes(since: str | None, now: datetime, has_read_all_orders: bool) -> list[str]:
    """Explain up front what Shopify will not return, instead of letting a job miss it silently."""
    start = parse_iso(since)
    if start is None or has_read_all_orders or now - start <= timedelta(days=ORDER_WINDOW_DAYS):
        return []
    return [
        f"since is older than {ORDER_WINDOW_DAYS} days: without the read_all_orders scope Shopify only returns "
        f"orders created after {_z(now - timedelta(days=ORDER_WINDOW_DAYS))}; older orders will be missing. "
        "Request read_all_orders (approved by Shopify for public apps) for a full backfill."
    ]


def search_queries(params: dict[str, Any], ids_per_query: int) -> list[str]:
    """Shopify search strings, one per chunk (all orders in ``since`` mode; ids in groups)."""
    ids = params.get("order_ids") or []
    if ids:
        return [" OR ".join(f"id:{i}" for i in ids[n : n + ids_per_query]) for n in range(0, len(ids), ids_per_query)]
    search = f"updated_at:>='{params['since']}'"
    if params.get("until"):
        search += f" AND updated_at:<='{params['until']}'"
    return [search]


def parse_duration(text: str, maximum_s: float = MAX_WINDOW_S) -> float:
    """``72h``, ``3d``, ``90m``, ``3600s`` or plain seconds → seconds, at most ``maximum_s``."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise BadRequestError(f"not a duration like 72h, 3d or 90m: {str(text)[:40]!r}")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if seconds > maximum_s:
        raise BadRequestError(
            f"duration {str(text)[:40]!r} is longer than {maximum_s / 86400:g} days; use a re-sync with since for more"
        )
    return seconds
