"""The ``dry-run`` target: maps like a real target, sends nothing, records what it would send.

So a new user sees the whole path (webhook → store → worker → payload) without an account.
The recorder is injected by the worker, which keeps this module free of SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from connector.targets.base import PartKind, RemoteRef, SendResult, ShopContext, Target
from connector.targets.neutral import map_neutral_order, map_neutral_part

# recorder(shop, order_id, kind, part_id, mapping, payload) -> record id
Recorder = Callable[[str, str, str, "str | None", str, dict[str, Any]], int]


def wire_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What a client would put on the wire: top-level ``_`` keys are the mapping's instructions to
    its own client (e.g. Foxdeli's ``_cancelled``) and are never sent, so they are not recorded."""
    return {key: value for key, value in payload.items() if not key.startswith("_")}


class DryRunTarget:
    kind: ClassVar[str] = "dry-run"

    def __init__(self, recorder: Recorder, mapping: Target | None = None) -> None:
        self._record = recorder
        self._mapping = mapping  # a vendor target whose map_* we borrow; None = neutral shape
        self.mapping_name = mapping.kind if mapping else "neutral"

    def settings_for(self, values: Mapping[str, Any]) -> Any:
        """The borrowed mapping's settings (the neutral shape needs none)."""
        return self._mapping.settings_for(values) if self._mapping else None

    def map_order(self, order: dict[str, Any], ctx: ShopContext[Any]) -> dict[str, Any]:
        payload = self._mapping.map_order(order, ctx) if self._mapping else map_neutral_order(order)
        # The envelope names the order so send_order can record it without parsing vendor shapes.
        return {"order_id": str(order.get("id")), "payload": payload}

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext[Any]
    ) -> dict[str, Any] | None:
        if self._mapping:
            payload = self._mapping.map_part(kind, part, order, ctx)
            if payload is None:
                return None
        else:
            payload = map_neutral_part(kind, part)
        return {"order_id": str(part.get("order_id")), "part_id": str(part.get("id")), "payload": payload}

    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        record_id = self._record(
            ctx.shop, payload["order_id"], "order", None, self.mapping_name, wire_payload(payload["payload"])
        )
        return SendResult(
            remote_id=ref.order_remote_id or f"dry-run:{payload['order_id']}", detail=f"record {record_id}"
        )

    def send_part(self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        record_id = self._record(
            ctx.shop, payload["order_id"], kind, payload["part_id"], self.mapping_name, wire_payload(payload["payload"])
        )
        return SendResult(remote_id=f"dry-run:{kind}:{payload['part_id']}", detail=f"record {record_id}")

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[Any]) -> SendResult:
        self._record(ctx.shop, order_id, "delete", None, self.mapping_name, {"order_id": order_id, "deleted": True})
        return SendResult(remote_id=ref.order_remote_id)

    def close(self) -> None:
        if self._mapping:
            self._mapping.close()
