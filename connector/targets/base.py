"""The small interface every target implements.

A target has two halves that never mix: *mapping* (pure functions, Shopify JSON in, target JSON
out) and *sending* (HTTP, errors classified as transient or permanent). The worker owns
everything else: leases, ordering, deduplication by payload hash, retries and the dead-letter
list. A target therefore never needs to know about SQLite or Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Protocol

PartKind = Literal["fulfillment", "refund"]


@dataclass(frozen=True)
class ShopContext:
    """What a target needs to know about the shop it delivers for.

    ``settings`` holds the effective ``target.*`` keys for this shop (per-shop overrides from
    ``[shops."<shop>"]`` already applied). ``silent`` is set for backfills and re-syncs that must
    not message customers: it follows the stored event that carries the state being sent (source
    ``resync-silent``), so a live fulfillment of a silently re-synced order is not silent.
    """

    shop: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    silent: bool = False


@dataclass(frozen=True)
class RemoteRef:
    """Identifiers the target handed back earlier, as remembered in the store."""

    order_remote_id: str | None = None
    part_remote_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    """A successful send: the target's id for what was created or updated."""

    remote_id: str | None
    detail: str = ""


class Target(Protocol):
    """One tracking platform.

    ``map_*`` must be pure and deterministic (the worker hashes their output to skip unchanged
    payloads). Top-level keys starting with ``_`` are instructions from a mapping to its own
    client (they change the hash, e.g. on cancellation) and are never sent. ``send_*`` raise :class:`~connector.errors.TransientDeliveryError` or
    :class:`~connector.errors.PermanentDeliveryError`; anything else is treated as transient.
    """

    kind: ClassVar[str]

    def map_order(self, order: dict[str, Any], ctx: ShopContext) -> dict[str, Any]:
        """The payload that represents this Shopify order (cancelled or not) at the target."""
        ...

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext
    ) -> dict[str, Any] | None:
        """The payload for a fulfillment or refund, or None when the target has no use for it."""
        ...

    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext) -> SendResult:
        """Create or update the order (idempotent upsert); return the target's order id."""
        ...

    def send_part(
        self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext
    ) -> SendResult:
        """Create or update a fulfillment/refund of an order already at the target."""
        ...

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext) -> SendResult:
        """Tell the target the order was deleted in Shopify (or do nothing, if it has no notion)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
