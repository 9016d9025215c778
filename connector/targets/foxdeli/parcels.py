"""A fulfillment's parcels at Foxdeli: one per tracking number, kept in line with Shopify's.

What each parcel is at Foxdeli is remembered per tracking number (:class:`RemoteItems`, stored
with the fulfillment's sync state), so a re-sent webhook sends nothing, an update sends only
the parcels that changed, and a retry after a failure half-way repeats nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from connector.targets.base import RemoteItems
from connector.targets.foxdeli.client import FoxdeliClient


def parcel_key(parcel: Mapping[str, Any]) -> str:
    """The tracking number a parcel body carries ("" for a parcel without one yet)."""
    tracking = parcel.get("tracking") or [{}]
    return str(tracking[0].get("number") or "")


def digest(parcel: Mapping[str, Any]) -> str:
    canonical = json.dumps(parcel, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def sync_parcels(client: FoxdeliClient, order_id: str, wanted: list[dict[str, Any]], items: RemoteItems) -> None:
    """Create, change or delete parcels of ``order_id`` until they are ``wanted``, one per key."""
    keys = [parcel_key(p) for p in wanted]
    # Parcels whose number left the fulfillment, oldest first: a new number takes one over
    # (PATCH) rather than Foxdeli getting a new parcel and a deleted one.
    spare = [k for k in items.keys() if k not in keys]
    for key, parcel in zip(keys, wanted, strict=True):
        known, body_digest = items.get(key), digest(parcel)
        if known is not None and known.digest == body_digest:
            continue
        reuse = known or (items.get(spare[0]) if spare else None)
        parcel_id = client.upsert_parcel(order_id, parcel, reuse.remote_id if reuse else None)
        if known is None and spare and reuse is not None:
            items.drop(spare.pop(0))
        items.set(key, parcel_id, body_digest)
    for key in spare:
        known = items.get(key)
        if known is not None:
            client.delete_parcel(order_id, known.remote_id)
        items.drop(key)
