"""The small interface every target implements.

A target has two halves that never mix: *mapping* (pure functions, Shopify JSON in, target JSON
out) and *sending* (HTTP, errors classified as transient or permanent). The worker owns
everything else: leases, ordering, deduplication by payload hash, retries and the dead-letter
list. A target therefore never needs to know about SQLite or Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Mapping, Protocol, TypeVar

from connector.config import TARGET_DEFAULTS

PartKind = Literal["fulfillment", "refund"]
S = TypeVar("S")


@dataclass(frozen=True)
class ShopContext(Generic[S]):
    """What a target needs to know about the shop it delivers for.

    ``settings`` is the target's own typed settings for this shop (built once per shop by
    :meth:`Target.settings_for` from the effective ``target.*`` keys, per-shop overrides from
    ``[shops."<shop>"]`` already applied). ``silent`` is set for backfills and re-syncs that must
    not message customers: it follows the stored event that carries the state being sent (source
    ``resync-silent``), so a live fulfillment of a silently re-synced order is not silent.
    """

    shop: str
    settings: S
    silent: bool = False


def target_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A shop's ``target.*`` values over the declared defaults (a test may give only a few)."""
    return {**TARGET_DEFAULTS, **values}


def timeout_s(values: Mapping[str, Any]) -> float:
    """``target.timeout_s``; 0 means the declared default, as an empty value does."""
    return float(values.get("timeout_s") or TARGET_DEFAULTS["timeout_s"])


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

    def settings_for(self, values: Mapping[str, Any]) -> Any:
        """This target's typed settings from one shop's ``target.*`` values (the worker keeps them
        per shop)."""
        ...

    def map_order(self, order: dict[str, Any], ctx: ShopContext[Any]) -> dict[str, Any]:
        """The payload that represents this Shopify order (cancelled or not) at the target."""
        ...

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext[Any]
    ) -> dict[str, Any] | None:
        """The payload for a fulfillment or refund, or None when the target has no use for it."""
        ...

    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        """Create or update the order (idempotent upsert); return the target's order id."""
        ...

    def send_part(
        self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[Any]
    ) -> SendResult:
        """Create or update a fulfillment/refund of an order already at the target."""
        ...

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        """Tell the target the order was deleted in Shopify (or do nothing, if it has no notion)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
