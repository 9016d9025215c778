"""Where a stored event goes (pure): which order it touches, and with what timestamp.

Python's ``json`` keeps Shopify's 64-bit ids exact; ids are carried as decimal strings from here
on and never pass through a float.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from connector.shopify import topics
from connector.shopify.ids import shopify_id
from connector.timeutil import normalize_iso

Action = Literal["snapshot", "delete", "part", "lifecycle", "ignore", "invalid"]


@dataclass(frozen=True)
class Route:
    action: Action
    order_id: str | None = None
    updated_at: str | None = None
    part_kind: str | None = None
    part_id: str | None = None
    reason: str | None = None
    body: Any = None
    # How the merchant knows an order (snapshots only): "#1001", "1001", Shopify's created_at.
    name: str | None = None
    number: str | None = None
    placed_at: str | None = None


def _label_text(value: Any) -> str | None:
    """An order name as Shopify shows it (``#1001``, ``pl-1020``), cut to a sane length."""
    return (value.strip()[:255] or None) if isinstance(value, str) else None


def parse_body(raw: bytes) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, reason)."""
    try:
        return json.loads(raw.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    except (ValueError, RecursionError) as exc:
        return None, f"body is not JSON: {str(exc)[:120]}"


def route_event(topic: str, raw: bytes, fallback_time: str) -> Route:
    """Decide what the worker does with one event. ``fallback_time`` (store form) stands in
    for a missing ``updated_at``, so such a body can never beat a real, dated one."""
    if topic in topics.LIFECYCLE_TOPICS:
        body, error = parse_body(raw)
        return Route("lifecycle", body=body, reason=error)
    if not topics.is_deliverable(topic):
        return Route("ignore", reason=f"topic {topic} is not delivered to targets")
    body, error = parse_body(raw)
    if error:
        return Route("invalid", reason=error)
    if not isinstance(body, dict):
        return Route("invalid", reason="body is not a JSON object")
    if topic in topics.ORDER_TOPICS or topic == topics.ORDER_DELETE_TOPIC:
        order_id = shopify_id(body.get("id"))
        if order_id is None:
            return Route("invalid", reason="order body has no valid id")
        if topic == topics.ORDER_DELETE_TOPIC:
            return Route("delete", order_id=order_id)
        updated = normalize_iso(body.get("updated_at")) or normalize_iso(body.get("created_at"))
        return Route(
            "snapshot", order_id=order_id, updated_at=updated or fallback_time, body=body,
            name=_label_text(body.get("name")), number=shopify_id(body.get("order_number")),
            placed_at=normalize_iso(body.get("created_at")),
        )
    kind = "fulfillment" if topic in topics.FULFILLMENT_TOPICS else "refund"
    order_id = shopify_id(body.get("order_id"))
    part_id = shopify_id(body.get("id"))
    if order_id is None or part_id is None:
        return Route("invalid", reason=f"{kind} body has no valid id/order_id")
    updated = normalize_iso(body.get("updated_at")) or normalize_iso(body.get("created_at"))
    return Route("part", order_id=order_id, updated_at=updated or fallback_time, part_kind=kind, part_id=part_id)
