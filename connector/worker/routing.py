"""Where a stored event goes (pure): which order it touches, and with what timestamp.

Bodies are parsed by :func:`connector.json_bytes.loads` (orjson, the standard library's results:
Shopify's 64-bit ids and longer stay exact); ids are carried as decimal strings from here on and
never pass through a float.

Before anything is acted on, an event must fit its headers (:mod:`connector.shopify.bodies`:
a body replayed under another topic or shop is ``suspect``), must have arrived within
``webhooks.max_delivery_age_s`` of its ``X-Shopify-Triggered-At`` (else ``suspect`` too: a
replay, or a retry long past Shopify's retries), and must stay within the cost limits of
:mod:`connector.worker.limits` (else ``invalid``). Suspect and invalid events are kept with their
reason and never acted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from connector import json_bytes
from connector.shopify import topics
from connector.shopify.bodies import lifecycle_problem, resource_problem
from connector.shopify.ids import shopify_id
from connector.timeutil import normalize_iso, parse_iso
from connector.worker.limits import BodyLimits, document_problem, raw_problem

Action = Literal["snapshot", "delete", "part", "lifecycle", "ignore", "invalid", "suspect"]
# Shopify retries a failed delivery 8 times over 4 hours (https://shopify.dev/changelog/updates-to-webhook-retry-mechanism;
# 48 hours before 2024-09): a delivery much older than that is not one of Shopify's retries.
DEFAULT_MAX_DELIVERY_AGE_S = 48 * 3600.0


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
    # The parsed body of a snapshot or part, for the delivery that follows
    # (connector.worker.parsed_bodies); not part of what the route says.
    parsed: Any = field(default=None, compare=False, repr=False)


def _label_text(value: Any) -> str | None:
    """An order name as Shopify shows it (``#1001``, ``pl-1020``), cut to a sane length."""
    return (value.strip()[:255] or None) if isinstance(value, str) else None


@dataclass(frozen=True)
class RoutingRules:
    """The checks of triage that come from settings."""

    limits: BodyLimits = field(default_factory=BodyLimits)
    max_delivery_age_s: float = DEFAULT_MAX_DELIVERY_AGE_S  # 0: no age check

    @classmethod
    def from_settings(cls, settings: Any) -> RoutingRules:
        return cls(BodyLimits.from_settings(settings), settings["webhooks.max_delivery_age_s"])


@dataclass(frozen=True)
class Delivery:
    """What the headers said about one stored event (none of it is signed)."""

    shop: str | None = None
    triggered_at: str | None = None
    source: str = "webhook"


def parse_body(raw: bytes) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, reason)."""
    try:
        return json_bytes.loads(raw), None
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    except (ValueError, RecursionError) as exc:
        return None, f"body is not JSON: {str(exc)[:120]}"


def delivery_age_problem(delivery: Delivery, received_at: str, max_age_s: float) -> str | None:
    """Why an event arrived too long after Shopify triggered it (None when in time or unknown)."""
    if not max_age_s or delivery.source != "webhook":
        return None
    triggered, received = parse_iso(delivery.triggered_at), parse_iso(received_at)
    if triggered is None or received is None:
        return None
    age_s = (received - triggered).total_seconds()
    if age_s <= max_age_s:
        return None
    return (
        f"received {age_s / 3600:.1f} h after X-Shopify-Triggered-At {(delivery.triggered_at or '')[:40]}, past "
        f"Shopify's retries (webhooks.max_delivery_age_s = {max_age_s:g} s): a replay?"
    )


def route_event(
    topic: str,
    raw: bytes,
    fallback_time: str,
    rules: RoutingRules = RoutingRules(),
    delivery: Delivery = Delivery(),
) -> Route:
    """Decide what the worker does with one event. ``fallback_time`` (its ``received_at``, store
    form) stands in for a missing ``updated_at``, so such a body can never beat a real, dated one."""
    lifecycle = topic in topics.LIFECYCLE_TOPICS
    if not lifecycle and not topics.is_deliverable(topic):
        return Route("ignore", reason=f"topic {topic} is not delivered to targets")
    late = delivery_age_problem(delivery, fallback_time, rules.max_delivery_age_s)
    if late:
        return Route("suspect", reason=late)
    too_big = raw_problem(raw, rules.limits)
    if too_big:
        return Route("invalid", reason=too_big)
    body, error = parse_body(raw)
    if not error:
        error = document_problem(topic, body, rules.limits)
    if lifecycle:
        if error:
            return Route("invalid", reason=error)
        mismatch = lifecycle_problem(topic, body, delivery.shop) if delivery.shop else None
        return Route("suspect", reason=mismatch) if mismatch else Route("lifecycle", body=body)
    if error:
        return Route("invalid", reason=error)
    if not isinstance(body, dict):
        return Route("invalid", reason="body is not a JSON object")
    return _route_resource(topic, body, fallback_time)


def _route_resource(topic: str, body: dict[str, Any], fallback_time: str) -> Route:
    is_order = topic in topics.ORDER_TOPICS or topic == topics.ORDER_DELETE_TOPIC
    order_id = shopify_id(body.get("id") if is_order else body.get("order_id"))
    part_id = None if is_order else shopify_id(body.get("id"))
    if order_id is None or (not is_order and part_id is None):
        kind = "order" if is_order else "fulfillment" if topic in topics.FULFILLMENT_TOPICS else "refund"
        return Route("invalid", reason=f"{kind} body has no valid id" + ("" if is_order else "/order_id"))
    mismatch = resource_problem(topic, body)
    if mismatch:
        return Route("suspect", order_id=order_id, reason=mismatch)
    if topic == topics.ORDER_DELETE_TOPIC:
        return Route("delete", order_id=order_id)
    updated = normalize_iso(body.get("updated_at")) or normalize_iso(body.get("created_at")) or fallback_time
    if is_order:
        return Route(
            "snapshot",
            order_id=order_id,
            updated_at=updated,
            name=_label_text(body.get("name")),
            number=shopify_id(body.get("order_number")),
            placed_at=normalize_iso(body.get("created_at")),
            parsed=body,
        )
    kind = "fulfillment" if topic in topics.FULFILLMENT_TOPICS else "refund"
    return Route("part", order_id=order_id, updated_at=updated, part_kind=kind, part_id=part_id, parsed=body)
