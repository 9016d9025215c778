"""Stand-in for Shopify's Admin GraphQL API: ``orders`` with cursors, search, and a cost bucket.

What it copies from Shopify (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits):
- ``X-Shopify-Access-Token`` is required (401 otherwise).
- ``orders(first, after, sortKey: UPDATED_AT, query)``: ``updated_at:>='…'``/``<='…'`` and
  ``id:N OR id:M`` filters; opaque cursors keyed on (updated_at, id), like Shopify's.
- A leaky bucket: ``requestedQueryCost = 2 + first × node_cost`` must be available up front,
  ``actualQueryCost = 2 + returned × actual_node_cost`` is charged; otherwise a THROTTLED answer
  with ``actualQueryCost: null`` (HTTP 200, or 429 with ``throttle_http_status``). Every answer
  carries ``extensions.cost.throttleStatus``.

For tests: ``min_headroom`` is the lowest (points available − requested cost) seen at admission
(negative ⇔ a request was throttled), ``cursors_seen`` counts each ``after`` value served.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.sandbox.server import Request, Response, StandIn

BIG_ID_BASE = 2**53 + 1  # Shopify ids exceed 2**53: any float on the way would corrupt them
_UPDATED = re.compile(r"updated_at:(>=|<=|>|<)'?([^' ]+)'?")
_ID = re.compile(r"\bid:(\d+)")
_CARRIERS = [
    ("DHL Express", "https://www.dhl.com/track?id="),
    ("UPS", "https://www.ups.com/track?tracknum="),
    ("PPL", "https://www.ppl.cz/vyhledat-zasilku?shipmentId="),
    ("Zásilkovna", "https://tracking.packeta.com/"),
]
_PEOPLE = [
    ("Jana", "Nováková", "CZ", "Praha", "110 00"),
    ("Jon", "Smith", "US", "Ottawa", "K2P 1L4"),
    ("Zoë", "Müller", "DE", "Berlin", "10115"),
    ("María", "García", "ES", "Madrid", "28001"),
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: float) -> dict[str, Any]:
    # A MoneyBag; the customers of this stand-in pay in the shop's currency.
    money = {"amount": f"{amount:.2f}", "currencyCode": "EUR"}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def make_order(i: int, updated: datetime, rng: random.Random) -> dict[str, Any]:
    """A realistic GraphQL ``Order`` node (the fields connector.shopify.order_shape asks for)."""
    order_id = BIG_ID_BASE + i * 7919
    first, last, country, city, zip_code = rng.choice(_PEOPLE)
    address = {
        "firstName": first,
        "lastName": last,
        "name": f"{first} {last}",
        "company": None,
        "address1": f"Ulice {i % 97 + 1}",
        "address2": None,
        "city": city,
        "province": None,
        "provinceCode": None,
        "zip": zip_code,
        "country": country,
        "countryCodeV2": country,
        "phone": "+420777123456",
        "latitude": None,
        "longitude": None,
    }
    lines: list[dict[str, Any]] = []
    for n in range(rng.randint(1, 3)):
        qty = rng.randint(1, 3)
        lines.append(
            {
                "id": f"gid://shopify/LineItem/{order_id + 100 + n}",
                "sku": f"SKU-{i}-{n}",
                "title": f"Tričko {n}",
                "name": f"Tričko {n} - M",
                "quantity": qty,
                "currentQuantity": qty,
                "requiresShipping": True,
                "isGiftCard": False,
                "vendor": "Demo",
                "originalUnitPriceSet": _money(19.9 + n),
                "variant": {"id": f"gid://shopify/ProductVariant/{order_id + 200 + n}"},
                "product": {"id": f"gid://shopify/Product/{order_id + 300 + n}"},
            }
        )
    fulfilled = i % 3 == 0
    fulfillments = []
    if fulfilled:
        company, url = rng.choice(_CARRIERS)
        number = f"TRK{order_id % 10**10:010d}"
        fulfillments.append(
            {
                "id": f"gid://shopify/Fulfillment/{order_id + 400}",
                "name": f"#{1000 + i}.1",
                "status": "SUCCESS",
                "createdAt": _iso(updated - timedelta(minutes=5)),
                "updatedAt": _iso(updated),
                "estimatedDeliveryAt": None,
                "trackingInfo": [{"company": company, "number": number, "url": url + number}],
                "fulfillmentLineItems": {
                    "nodes": [
                        {
                            "id": f"gid://shopify/FulfillmentLineItem/{order_id + 500 + n}",
                            "quantity": li["quantity"],
                            "lineItem": {"id": li["id"], "sku": li["sku"]},
                        }
                        for n, li in enumerate(lines)
                    ]
                },
            }
        )
    total = sum(float(li["originalUnitPriceSet"]["shopMoney"]["amount"]) * li["quantity"] for li in lines)
    return {
        "id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + i}",
        "email": f"{first.lower()}{i}@example.com",
        "phone": None,
        "createdAt": _iso(updated - timedelta(hours=2)),
        "updatedAt": _iso(updated),
        "processedAt": _iso(updated - timedelta(hours=2)),
        "cancelledAt": None,
        "cancelReason": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED" if fulfilled else "UNFULFILLED",
        "customerLocale": "cs-CZ" if country == "CZ" else "en",
        "statusPageUrl": f"https://demo.myshopify.com/123/orders/{order_id:x}/authenticate?key=k{i}",
        "tags": ["resync-test"] if i % 2 else [],
        "paymentGatewayNames": ["shopify_payments"],
        "sourceName": "web",
        "test": False,
        "note": None,
        "currencyCode": "EUR",
        "presentmentCurrencyCode": "EUR",
        "totalPriceSet": _money(total + 4.9),
        "subtotalPriceSet": _money(total),
        "totalTaxSet": _money(total * 0.21),
        "totalDiscountsSet": _money(0),
        "totalOutstandingSet": _money(0),
        # No edits or refunds yet: the current values are the original ones (refund() changes them).
        "currentTotalPriceSet": _money(total + 4.9),
        "currentSubtotalPriceSet": _money(total),
        "currentTotalTaxSet": _money(total * 0.21),
        "currentTotalDiscountsSet": _money(0),
        "currentTotalDutiesSet": None,
        "currentTotalAdditionalFeesSet": None,
        "totalTipReceivedSet": _money(0),
        "customer": {
            "id": f"gid://shopify/Customer/{order_id + 600}",
            "firstName": first,
            "lastName": last,
            "email": f"{first.lower()}{i}@example.com",
            "phone": None,
        },
        "shippingAddress": address,
        "billingAddress": dict(address),
        "lineItems": {"nodes": lines},
        "fulfillments": fulfillments,
        "shippingLines": {
            "nodes": [
                {
                    "id": f"gid://shopify/ShippingLine/{order_id + 700}",
                    "title": "Standard",
                    "code": "standard",
                    "source": "shopify",
                    "carrierIdentifier": None,
                    "isRemoved": False,
                    "originalPriceSet": _money(4.9),
                    "discountedPriceSet": _money(4.9),
                }
            ]
        },
    }


def _cursor(node: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([node["updatedAt"], node["id"]]).encode()).decode()


def _key(node: dict[str, Any]) -> tuple[str, int]:
    return node["updatedAt"], int(node["id"].rsplit("/", 1)[1])


class ShopifyAdminStandIn(StandIn):
    def __init__(
        self,
        orders: int = 100,
        token: str = "shpat_standin",
        maximum: float = 1000.0,
        restore_rate: float = 50.0,
        node_cost: int = 4,
        actual_node_cost: int = 2,
        throttle_http_status: int = 200,
        seed: int = 7,
        start: datetime | None = None,
        latency_s: float = 0.0,
        shop_name: str = "Stand-in shop",
        shop_domain: str | None = None,
    ) -> None:
        super().__init__(latency_s)
        self.shop_name, self.shop_domain = shop_name, shop_domain  # what `shop { name myshopifyDomain }` answers
        self.token, self.maximum, self.restore_rate = token, maximum, restore_rate
        self.node_cost, self.actual_node_cost = node_cost, actual_node_cost
        self.throttle_http_status = throttle_http_status
        rng = random.Random(seed)
        start = start or datetime.now(UTC) - timedelta(days=20)
        self.orders: dict[str, dict[str, Any]] = {}
        for i in range(orders):
            node = make_order(i, start + timedelta(minutes=7 * i), rng)
            self.orders[node["id"]] = node
        self.level, self.stamp = maximum, time.monotonic()
        self.min_headroom = float("inf")
        self.throttled = 0
        self.served_pages = 0
        self.points_spent = 0.0
        self.cursors_seen: Counter[str | None] = Counter()
        self._bucket_lock = threading.Lock()

    # -- helpers for tests --------------------------------------------------------------------
    def order_ids(self) -> list[int]:
        return [int(gid.rsplit("/", 1)[1]) for gid in self.orders]

    def touch(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change an order the way a merchant would: new fields and a newer updatedAt."""
        node = self.orders[f"gid://shopify/Order/{order_id}"]
        node.update(changes)
        node["updatedAt"] = _iso(datetime.now(UTC))
        return node

    def refund(self, order_id: int, amount: float) -> dict[str, Any]:
        """A partial refund the merchant gives: the current total drops, the original stays."""
        node = self.orders[f"gid://shopify/Order/{order_id}"]
        current = float(node["currentTotalPriceSet"]["shopMoney"]["amount"]) - amount
        return self.touch(order_id, currentTotalPriceSet=_money(current), displayFinancialStatus="PARTIALLY_REFUNDED")

    def fulfill(self, order_id: int, numbers: list[str], company: str = "UPS") -> dict[str, Any]:
        """Ship the order's lines in one fulfillment with these tracking numbers (a package
        each); the order and the new fulfillment get a newer updatedAt. Returns the fulfillment."""
        node = self.touch(order_id, displayFulfillmentStatus="FULFILLED")
        url = dict(_CARRIERS).get(company, "https://example.com/track?n=")
        now = node["updatedAt"]
        serial = len(node["fulfillments"]) + 1
        fulfillment = {
            "id": f"gid://shopify/Fulfillment/{order_id + 400 + serial * 10}",
            "name": f"{node['name']}.{serial}",
            "status": "SUCCESS",
            "createdAt": now,
            "updatedAt": now,
            "estimatedDeliveryAt": None,
            "trackingInfo": [{"company": company, "number": n, "url": url + n} for n in numbers],
            "fulfillmentLineItems": {
                "nodes": [
                    {
                        "id": f"gid://shopify/FulfillmentLineItem/{order_id + 800 + serial * 10 + n}",
                        "quantity": li["quantity"],
                        "lineItem": {"id": li["id"], "sku": li["sku"]},
                    }
                    for n, li in enumerate(node["lineItems"]["nodes"])
                ]
            },
        }
        node["fulfillments"].append(fulfillment)
        return fulfillment

    def tracking_numbers(self) -> dict[int, list[str]]:
        """Every order's tracking numbers, by order id (orders without any left out)."""
        found = {
            int(gid.rsplit("/", 1)[1]): [t["number"] for f in node["fulfillments"] for t in f["trackingInfo"]]
            for gid, node in self.orders.items()
        }
        return {order_id: numbers for order_id, numbers in found.items() if numbers}

    def drain(self, points: float) -> None:
        """Spend points as another client of the same app would."""
        with self._bucket_lock:
            self._refill()
            self.level -= points

    # -- HTTP ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.method != "POST" or not re.fullmatch(r"/admin/api/\d{4}-\d{2}/graphql\.json", request.path):
            return Response(404, {"errors": "Not Found"})
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return Response(
                401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
            )
        try:
            body = request.json()
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return Response(400, {"errors": [{"message": "Parse error"}]})
        if re.search(r"\bshop\s*\{", query):
            return self._answer(1, lambda: ({"shop": {"name": self.shop_name, "myshopifyDomain": self.shop_domain}}, 1))
        if "ordersCount" in query:
            return self._answer(
                1,
                lambda: (
                    {"ordersCount": {"count": len(self._matching(variables.get("query"))), "precision": "EXACT"}},
                    1,
                ),
            )
        if "orders(" in query:
            first = int(variables.get("first") or 0)
            if not 1 <= first <= 250:
                return Response(200, {"errors": [{"message": "first must be between 1 and 250"}]})
            return self._answer(2 + first * self.node_cost, lambda: self._page(first, variables))
        return Response(200, {"errors": [{"message": "stand-in: unsupported query"}]})

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.maximum, self.level + (now - self.stamp) * self.restore_rate)
        self.stamp = now

    def _status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.level, 3),
            "restoreRate": self.restore_rate,
        }

    def _answer(self, requested: float, run: Any) -> Response:
        with self._bucket_lock:
            self._refill()
            self.min_headroom = min(self.min_headroom, self.level - requested)
            if self.level < requested:
                self.throttled += 1
                cost = {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": self._status()}
                return Response(
                    self.throttle_http_status,
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": {"cost": cost},
                    },
                )
            data, actual = run()
            self.level -= actual
            self.points_spent += actual
            cost = {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self._status()}
        return Response(200, {"data": data, "extensions": {"cost": cost}})

    def _matching(self, search: str | None) -> list[dict[str, Any]]:
        nodes = sorted(self.orders.values(), key=_key)
        if not search:
            return nodes
        ids = {f"gid://shopify/Order/{m}" for m in _ID.findall(search)}
        if ids:
            nodes = [n for n in nodes if n["id"] in ids]
        for op, value in _UPDATED.findall(search):
            nodes = [n for n in nodes if _compare(n["updatedAt"], op, value)]
        return nodes

    def _page(self, first: int, variables: dict[str, Any]) -> tuple[dict[str, Any], float]:
        after = variables.get("after")
        self.cursors_seen[after] += 1
        nodes = self._matching(variables.get("query"))
        if after:
            position = tuple(json.loads(base64.urlsafe_b64decode(after)))
            nodes = [
                n
                for n in nodes
                if (n["updatedAt"], int(n["id"].rsplit("/", 1)[1])) > (position[0], int(position[1].rsplit("/", 1)[1]))
            ]
        page, more = nodes[:first], len(nodes) > first
        self.served_pages += 1
        data = {
            "orders": {
                "pageInfo": {"hasNextPage": more, "endCursor": _cursor(page[-1]) if page else None},
                "nodes": json.loads(json.dumps(page)),  # a copy: later touch() must not change an answer
            }
        }
        return data, 2 + len(page) * self.actual_node_cost


def _compare(updated: str, op: str, value: str) -> bool:
    a = datetime.fromisoformat(updated.replace("Z", "+00:00"))
    b = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
