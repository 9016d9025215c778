"""parcelLab API v4 target: Shopify orders and fulfillments as ``PUT /v4/track/orders/`` upserts.

Mapping lives in :mod:`.mapping` (pure), HTTP in :mod:`.client`; this class only joins them to
the :class:`connector.targets.base.Target` interface. Per-shop settings (``ShopContext.settings``):
``base_url``, ``token``, ``account``, ``client_key``, ``auth_scheme``, ``timeout_s``, ``carriers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connector.targets.base import PartKind, RemoteRef, SendResult, ShopContext
from connector.targets.httpclient import LazySession
from connector.targets.parcellab import client, mapping
from connector.targets.parcellab.settings import ParcellabSettings


class ParcellabTarget:
    """The parcelLab target (``target.kind = "parcellab"``)."""

    kind: ClassVar[str] = "parcellab"

    def __init__(self) -> None:
        # Thread-safe: the worker shares one target per process and its one session (thread-safe pools).
        self._sessions = LazySession()

    def settings_for(self, values: Mapping[str, Any]) -> ParcellabSettings:
        return ParcellabSettings.from_target(values)

    def map_order(self, order: dict[str, Any], ctx: ShopContext[ParcellabSettings]) -> dict[str, Any]:
        """Order upsert body; ``ctx.silent`` turns notifications off on its trackings."""
        return mapping.map_order(order, ctx.settings, silent=ctx.silent)

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext[ParcellabSettings]
    ) -> dict[str, Any] | None:
        """Fulfillments become ``add_tracking`` upserts; refunds have no parcelLab counterpart."""
        if kind == "fulfillment":
            return mapping.map_fulfillment(part, order, ctx.settings, silent=ctx.silent)
        # parcelLab tracks parcels, not money; refunds change totals, which the next
        # orders/updated upsert carries anyway.
        return None

    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[ParcellabSettings]) -> SendResult:
        """Upsert the order; parcelLab's ``external_id`` comes back as the remote id."""
        return client.put_order(self._sessions.get(), ctx.settings, payload)

    def send_part(
        self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[ParcellabSettings]
    ) -> SendResult:
        """Send a fulfillment's trackings (same PUT, core fields + mutations).

        The part's remote id is ``courier:tracking_number`` (comma-joined), parcelLab's own key
        for a parcel.
        """
        if kind != "fulfillment":
            return SendResult(remote_id=ref.part_remote_id, detail=f"{kind}: nothing to send to parcelLab")
        result = client.put_order(self._sessions.get(), ctx.settings, payload)
        keys = [
            f"{m['tracking']['courier']}:{m['tracking']['tracking_number']}"
            for m in payload.get("mutations", [])
            if m.get("type") == "add_tracking"
        ]
        return SendResult(remote_id=",".join(keys) or result.remote_id, detail=result.detail)

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[ParcellabSettings]) -> SendResult:
        """Deliberately a no-op: parcelLab has no delete, and we cannot build a valid cancel.

        ``orders/delete`` carries only the order id, but every PUT needs the core fields
        (email, country), so a ``cancel_order`` would be rejected. Shopify only lets merchants
        delete orders that are cancelled or archived; a cancelled one already reached parcelLab
        with ``cancel_order`` through ``orders/cancelled``/``orders/updated``.
        """
        return SendResult(
            remote_id=ref.order_remote_id,
            detail="order deleted in Shopify: parcelLab has no delete; nothing sent",
        )

    def close(self) -> None:
        """Release pooled connections."""
        self._sessions.close()
