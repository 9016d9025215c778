"""The connector with everything around it for the walk-throughs: the web app on loopback, the
worker on demand, Shopify's Admin API, and Foxdeli and parcelLab stand-ins that can refuse one order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connector.app import create_app
from connector.sandbox.foxdeli import FoxdeliStandIn, problem
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.server import Response
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.worker.loop import Worker
from tests.browser.harness import AdminStandIn, LiveApp
from tests.id_tokens import API_KEY, API_SECRET
from tests.support import webhook_headers
from tests.tenancy_env import tenancy_settings

ORDERS = 12  # in the Shopify stand-in, all placed within the last 30 days


class RefusingFoxdeli(FoxdeliStandIn):
    """Foxdeli that refuses one named order the way it refuses a constraint violation (400)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refusals: dict[str, str] = {}

    def _refused(self, order_number: Any) -> Response | None:
        detail = self.refusals.get(str(order_number))
        return problem(400, "Constraint Violation", detail) if detail else None

    def _create(self, request: Any, body: Any) -> Response:
        return self._refused(body.get("orderNumber")) or super()._create(request, body)

    def _update(self, request: Any, order: dict[str, Any], body: Any) -> Response:
        return self._refused(body.get("orderNumber") or order.get("orderNumber")) or super()._update(request, order, body)


class RefusingParcellab(ParcellabStandIn):
    """parcelLab that refuses one named order with a validation error, in its own words."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refusals: dict[str, str] = {}

    def _upsert(self, body: dict[str, Any]) -> Response:
        detail = self.refusals.get(str(body.get("order_number")))
        if detail:
            return Response(400, {"type": "validation_error", "errors": [{"code": "invalid", "detail": detail, "attr": "recipient_email"}]})
        return super()._upsert(body)


class World:
    """The connector (web on loopback, worker on demand), Shopify's Admin API and both platforms."""

    def __init__(self, tmp_path: Path, context: Any, shop: str, fox: FoxdeliStandIn, pl: ParcellabStandIn,
                 shopify: ShopifyAdminStandIn, extra_toml: str = "") -> None:
        self.fox, self.pl, self.shopify, self.shop = fox, pl, shopify, shop
        shops = f'[shops."{shop}"]\naccess_token = "{shopify.token}"\nadmin_url = "{shopify.url}"\n{extra_toml}'
        self.settings = tenancy_settings(tmp_path, fox, pl, shops, **{"shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET})
        self.app = create_app(settings=self.settings)
        self.live = LiveApp(self.app).__enter__()
        self.admin = AdminStandIn(context, self.live.url, shop=shop)

    def deliver(self) -> Any:
        """What `connector worker` does next: everything that is due."""
        return Worker(self.settings).run(once=True)

    def shopify_updates(self, order_id: int, **changes: Any) -> None:
        """The merchant edits an order in Shopify: the orders/updated webhook arrives."""
        node = self.shopify.touch(order_id, **changes)
        body = json.dumps(rest_order(node)).encode()
        response = self.app.test_client().post(
            "/webhooks/shopify", data=body, headers=webhook_headers(body, "orders/updated", shop=self.shop, secret=API_SECRET))
        assert response.status_code == 200

    def close(self) -> None:
        self.live.__exit__(None)


def rest_order(node: dict[str, Any]) -> dict[str, Any]:
    """The REST shape (webhook body) of a GraphQL order node of the Shopify stand-in, as far as mapped."""
    from connector.shopify.order_shape import map_graphql_order

    return map_graphql_order(node)
