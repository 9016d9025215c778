"""The generic ``http`` target: the neutral order document PUT to any JSON endpoint.

For platforms without a dedicated target (or an in-house system): idempotent by URL,
``PUT {base_url}/orders/{shop}/{order_id}``, parts at ``…/{kind}s/{part_id}``, ``DELETE`` for a
deleted order. ``target.token`` is sent as a bearer token when set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connector.errors import ConfigError
from connector.targets.base import PartKind, RemoteRef, SendResult, ShopContext
from connector.targets.http.settings import HttpSettings
from connector.targets.http_session import HttpResponse, HttpSession
from connector.targets.httpclient import LazySession, raise_for_response, send_request
from connector.targets.neutral import map_neutral_order, map_neutral_part


class HttpJsonTarget:
    kind: ClassVar[str] = "http"

    def __init__(self, session: HttpSession | None = None) -> None:
        # Thread-safe: the worker shares one target per process and its one session
        # (unless the caller lends one).
        self._lent = session
        self._sessions = LazySession()

    def settings_for(self, values: Mapping[str, Any]) -> HttpSettings:
        return HttpSettings.from_target(values)

    def map_order(self, order: dict[str, Any], ctx: ShopContext[HttpSettings]) -> dict[str, Any]:
        return map_neutral_order(order)

    def map_part(
        self, kind: PartKind, part: dict[str, Any], order: dict[str, Any] | None, ctx: ShopContext[HttpSettings]
    ) -> dict[str, Any] | None:
        return map_neutral_part(kind, part)

    def _url(self, ctx: ShopContext[HttpSettings], *segments: str) -> str:
        base = ctx.settings.base_url
        if not base:
            raise ConfigError("target.base_url is required for the http target")
        return base + "/" + "/".join(quote(s, safe="") for s in segments)

    def _call(self, method: str, url: str, ctx: ShopContext[HttpSettings], payload: Any = None) -> HttpResponse:
        headers = {"Accept": "application/json"}
        if ctx.settings.token:
            headers["Authorization"] = f"Bearer {ctx.settings.token}"
        response = send_request(
            self._lent or self._sessions.get(),
            method,
            url,
            timeout=ctx.settings.timeout_s,
            json=payload,
            headers=headers,
        )
        raise_for_response(response)
        return response

    def send_order(self, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[HttpSettings]) -> SendResult:
        order_id = str(payload["order_id"])
        response = self._call("PUT", self._url(ctx, "orders", ctx.shop, order_id), ctx, payload)
        return SendResult(remote_id=_remote_id(response) or order_id)

    def send_part(
        self, kind: PartKind, payload: dict[str, Any], ref: RemoteRef, ctx: ShopContext[HttpSettings]
    ) -> SendResult:
        part_id = str(payload.get("id"))
        url = self._url(ctx, "orders", ctx.shop, str(payload.get("order_id")), f"{kind}s", part_id)
        response = self._call("PUT", url, ctx, payload)
        return SendResult(remote_id=_remote_id(response) or part_id)

    def send_order_deleted(self, order_id: str, ref: RemoteRef, ctx: ShopContext[HttpSettings]) -> SendResult:
        self._call("DELETE", self._url(ctx, "orders", ctx.shop, order_id), ctx)
        return SendResult(remote_id=ref.order_remote_id)

    def close(self) -> None:
        self._sessions.close()


def _remote_id(response: HttpResponse) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["id"]) if isinstance(body, dict) and body.get("id") is not None else None
