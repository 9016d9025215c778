"""The small interface every target implements.

A target has two halves that never mix: *mapping* (pure functions, Shopify JSON in, target JSON
out) and *sending* (HTTP, errors classified as transient or permanent). The worker owns
everything else: leases, ordering, deduplication by payload hash, retries and the dead-letter
list. A target therefore never needs to know about SQLite or Flask.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from connector.config import TARGET_DEFAULTS
from connector.models import PartKind as PartKind  # re-exported: the targets name it from here

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
class RemoteItem:
    """One of the resources a part became at the target: its id there and the digest of what
    was last sent to it (an unchanged one is not sent again)."""

    remote_id: str
    digest: str = ""


class RemoteItems:
    """The resources one part became at the target, by key (Foxdeli: one parcel per tracking
    number). The target updates it as it creates, changes or deletes each one, so a failure
    half-way keeps what was done; the worker stores it whatever the delivery's outcome.
    Used by one delivery thread at a time."""

    def __init__(self, items: Mapping[str, RemoteItem] | None = None) -> None:
        self._items: dict[str, RemoteItem] = dict(items or {})
        self.changed = False

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> RemoteItem | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def set(self, key: str, remote_id: str, digest: str = "") -> None:
        self._items[key] = RemoteItem(remote_id, digest)
        self.changed = True

    def drop(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            self.changed = True

    def remote_ids(self) -> list[str]:
        return [item.remote_id for item in self._items.values()]

    def encode(self) -> str:
        """The stored form: a JSON object ``{key: [remote id, digest]}``."""
        return json.dumps({k: [v.remote_id, v.digest] for k, v in self._items.items()}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None, legacy_remote_id: str | None = None) -> RemoteItems:
        """From the stored form; a part stored before items existed had one ``remote_id``: it
        becomes the item of key ``""``, which the target reuses for the first of the new keys."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        items = {
            str(k): RemoteItem(str(v[0]), str(v[1]) if len(v) > 1 else "")
            for k, v in (data.items() if isinstance(data, dict) else [])
            if isinstance(v, list) and v and v[0]
        }
        if text is None and legacy_remote_id:
            items[""] = RemoteItem(legacy_remote_id)
        return cls(items)


@dataclass(frozen=True)
class RemoteRef:
    """Identifiers the target handed back earlier, as remembered in the store.

    ``items`` is given for parts: the resources the part became, which a target that splits a
    part into several (Foxdeli) keeps up to date as it sends."""

    order_remote_id: str | None = None
    part_remote_id: str | None = None
    items: RemoteItems | None = None


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

    def send_part(self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        """Create or update a fulfillment/refund of an order already at the target."""
        ...

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        """Tell the target the order was deleted in Shopify (or do nothing, if it has no notion)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
