"""What one fetched page of orders becomes: the events its webhooks would have brought (pure).

An order comes in as ``orders/updated`` and each of its fulfillments as ``fulfillments/update``,
with tracking numbers and all, so every target gets from a re-sync what it gets from
webhooks — Foxdeli its parcels too (they are parts, not fields of the order). Dedupe keys are
stable (``resync:<id>:<updated_at>``): fetching a page again, or re-syncing twice, stores
nothing twice; triage's newest-state-wins and the delivery's payload hash do the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.store.events import NewEvent
from connector.timeutil import normalize_iso

ORDER_TOPIC = "orders/updated"
FULFILLMENT_TOPIC = "fulfillments/update"


@dataclass
class PageEvents:
    events: list[NewEvent] = field(default_factory=list)
    recovered: set[str] = field(default_factory=set)  # dedupe keys of states the sync state lacked
    skipped: int = 0  # orders whose state the sync state already had


@dataclass(frozen=True)
class Known:
    """For reconciliation: the newest ``updated_at`` the sync state holds, per order and per
    fulfillment; only what is newer (or unknown) is queued."""

    orders: Mapping[str, str | None]
    fulfillments: Mapping[str, str | None]


def page_events(
    shop: str, orders: list[dict[str, Any]], source: str, api_version: str | None, known: Known | None = None
) -> PageEvents:
    """The events of one page; with ``known`` (reconcile) only the missed ones, counted as recovered."""
    out = PageEvents()

    def event(topic: str, resource_id: str, updated_at: str, resource: dict[str, Any]) -> NewEvent:
        return NewEvent(
            shop=shop,
            topic=topic,
            dedupe_key=f"resync:{resource_id}:{updated_at}",
            body=_json(resource),
            api_version=api_version,
            source=source,
        )

    for order in orders:
        if not order.get("id"):
            continue
        oid, updated = str(order["id"]), normalize_iso(order.get("updated_at")) or ""
        if known is not None and _has(known.orders, oid, updated):
            out.skipped += 1
        else:
            _add(out, known, event(ORDER_TOPIC, oid, updated, order))
        for fulfillment in fulfillments_of(order):
            fid = str(fulfillment["id"])
            f_updated = (
                normalize_iso(fulfillment.get("updated_at")) or normalize_iso(fulfillment.get("created_at")) or updated
            )
            if known is not None and _has(known.fulfillments, fid, f_updated):
                continue
            _add(out, known, event(FULFILLMENT_TOPIC, fid, f_updated, fulfillment))
    return out


def fulfillments_of(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's fulfillments as their webhooks carry them (with the order's id)."""
    return [
        {**f, "order_id": f.get("order_id") or order.get("id")}
        for f in order.get("fulfillments") or []
        if isinstance(f, dict) and f.get("id")
    ]


def fulfillment_ids(orders: list[dict[str, Any]]) -> list[str]:
    return [str(f["id"]) for order in orders for f in fulfillments_of(order)]


def _has(known: Mapping[str, str | None], resource_id: str, updated: str) -> bool:
    newest = known.get(resource_id)
    return bool(newest and updated <= newest)


def _add(out: PageEvents, known: Known | None, event: NewEvent) -> None:
    out.events.append(event)
    if known is not None:
        out.recovered.add(event.dedupe_key)


def _json(resource: Mapping[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False).encode("utf-8")
