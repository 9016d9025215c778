"""The Foxdeli target: Shopify orders → Foxdeli orders, fulfillments → Foxdeli parcels.

Mapping is in :mod:`.mapping` (pure), HTTP in :mod:`.client`. Decisions taken here:

* **Cancellation**: a cancelled Shopify order is upserted like any other (Foxdeli keeps its
  products and prices), then ``PUT …/order/{id}/cancel`` is called. The mapped payload carries
  ``_cancelled``, so it hashes differently once the order is cancelled.
* **Refunds**: Foxdeli has no refund resource; the next order update carries the products'
  current quantities and the current total, so ``map_part("refund", ...)`` returns None.
* **Deleted orders** (``orders/delete``): Foxdeli has no delete, so the order is cancelled there
  when it exists (by the remembered id, else found by ``externalIdentifier``); otherwise nothing
  is done.
* **Parcels**: one per tracking number of a fulfillment (a shipment in several packages), kept
  in line with Shopify's numbers by :mod:`.parcels` (remembered per number in the part's
  ``RemoteItems``).
* **Cancelled fulfillments**: their parcels are deleted at Foxdeli (``DELETE …/parcel/{id}``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from connector.errors import AccountError, WaitingError
from connector.targets.base import PartKind, RemoteItems, RemoteRef, SendResult, ShopContext
from connector.targets.foxdeli.client import FoxdeliClient
from connector.targets.foxdeli.mapping import map_fulfillment, map_order
from connector.targets.foxdeli.parcels import sync_parcels
from connector.targets.foxdeli.settings import FoxdeliSettings

if TYPE_CHECKING:
    from connector.targets.http_session import HttpSession


class FoxdeliTarget:
    """:class:`connector.targets.base.Target` for Foxdeli; settings come per shop in ``ShopContext``.

    Thread-safe: the worker shares one per process, so every thread of it uses one client — and
    one token — per API user.
    """

    kind: ClassVar[str] = "foxdeli"

    def __init__(self, session: HttpSession | None = None) -> None:
        self._session = session
        self._clients: dict[tuple[str, str, str, float], FoxdeliClient] = {}
        self._lock = threading.Lock()

    def settings_for(self, values: Mapping[str, Any]) -> FoxdeliSettings:
        return FoxdeliSettings.from_target(values)

    def client(self, ctx: ShopContext[FoxdeliSettings]) -> FoxdeliClient:
        """The cached authenticated client for these credentials (a changed password is a new
        client: two accounts sharing a user name never take turns logging each other out)."""
        settings = ctx.settings
        key = (settings.base_url, settings.username, settings.password, settings.timeout_s)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = FoxdeliClient(
                        settings.base_url,
                        settings.username,
                        settings.password,
                        session=self._session,
                        timeout_s=settings.timeout_s,
                    )
                    self._clients[key] = client
        return client

    # -- mapping (pure) ---------------------------------------------------------------------------
    def map_order(self, order: dict[str, Any], ctx: ShopContext[FoxdeliSettings]) -> dict[str, Any]:
        """Foxdeli ``OrderRegistration`` for the order (plus ``_cancelled`` when cancelled)."""
        return map_order(order, ctx.settings)

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext[FoxdeliSettings]
    ) -> dict[str, Any] | None:
        """A parcel for a fulfillment; None for refunds (the order update carries them)."""
        if kind == "fulfillment":
            return map_fulfillment(part, ctx.settings)
        return None

    # -- sending ----------------------------------------------------------------------------------
    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[FoxdeliSettings]) -> SendResult:
        """Upsert the order, then cancel it at Foxdeli when Shopify cancelled it."""
        client = self.client(ctx)
        order_id = client.upsert_order(payload, ref.order_remote_id)
        if payload.get("_cancelled"):
            client.cancel_order(order_id)
            return SendResult(order_id, "upserted and cancelled")
        return SendResult(order_id, "upserted")

    def send_part(
        self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[FoxdeliSettings]
    ) -> SendResult:
        """Bring the fulfillment's parcels at Foxdeli in line with its tracking numbers.

        ``ref.items`` holds the parcel of each number sent so far, updated as each request
        succeeds (a retry after a failure half-way repeats nothing). A new number takes over a
        parcel whose number left the fulfillment (Shopify corrected it) before one is created;
        parcels of numbers still gone are deleted; an unchanged parcel is not sent again.
        """
        if kind != "fulfillment":
            return SendResult(ref.part_remote_id, f"{kind}: nothing to send to Foxdeli")
        client = self.client(ctx)
        order_id = ref.order_remote_id or client.find_order_id(
            str(payload.get("_orderExternalId")), self._eshop_id(ctx)
        )
        if not order_id:
            raise WaitingError("parcel waits for its order to reach Foxdeli")
        items = ref.items if ref.items is not None else RemoteItems.decode(None, ref.part_remote_id)
        wanted = [] if payload.get("_cancelled") else list(payload.get("parcels") or [])
        sync_parcels(client, order_id, wanted, items)
        detail = (
            "fulfillment cancelled: parcels deleted"
            if payload.get("_cancelled")
            else f"{len(wanted)} parcel(s) of order {order_id}"
        )
        return SendResult(",".join(items.remote_ids()) or None, detail)

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[FoxdeliSettings]) -> SendResult:
        """Cancel the order at Foxdeli if it is there (Foxdeli cannot delete orders); else no-op."""
        client = self.client(ctx)
        remote_id = ref.order_remote_id or client.find_order_id(str(order_id), self._eshop_id(ctx))
        if not remote_id:
            return SendResult(None, "deleted in Shopify; never reached Foxdeli")
        client.cancel_order(remote_id)
        return SendResult(remote_id, "deleted in Shopify: cancelled at Foxdeli")

    @staticmethod
    def _eshop_id(ctx: ShopContext[FoxdeliSettings]) -> str:
        if not ctx.settings.eshop_id:
            raise AccountError("settings eshop_id is empty: Foxdeli needs the e-shop UUID")
        return ctx.settings.eshop_id

    def close(self) -> None:
        """Close every cached client."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
