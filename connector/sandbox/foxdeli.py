"""A strict Foxdeli stand-in: auth with expiring JWTs, orders, cancel, parcels, problem+json.

Behaviour from Foxdeli's API reference (https://api.foxdeli.com/docs/api/tracking/create-order and the token service
of its SDKs: github.com/foxdeli/api-php-sdk). Every request that breaks the documented rules is answered 400 with ``violations`` (like Foxdeli) *and* recorded in
``invalid_requests`` so tests can assert that the connector never sent one.

    with FoxdeliStandIn(token_lifetime_s=2) as fox:
        client = FoxdeliClient(fox.url, fox.username, fox.password)
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from connector.sandbox.foxdeli_schema import validate_order, validate_parcel
from connector.sandbox.server import Request, Response, StandIn

ESHOP_ID = "12345678-1234-1234-1234-1234567890ab"
_ORDER = re.compile(r"^/tracking/api/v1/order/(?P<id>[^/]+)(?P<rest>/cancel|/parcel(?:/(?P<parcel>[^/]+))?)?$")


@dataclass
class InvalidRequest:
    method: str
    path: str
    violations: dict[str, str]


def problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    """An RFC 7807 answer as Foxdeli sends it."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(status, body, content_type="application/problem+json")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class FoxdeliStandIn(StandIn):
    """In-memory Foxdeli keyed by order id, with an index by (eshopId, externalIdentifier)."""

    def __init__(
        self,
        *,
        username: str = "api-user@shop.example",
        password: str = "s3cret-Pa55word!",
        eshop_id: str = ESHOP_ID,
        token_lifetime_s: float = 600.0,
        jwt_exp: bool = True,
        latency_s: float = 0.0,
    ) -> None:
        super().__init__(latency_s=latency_s)
        self.username, self.password, self.eshop_id = username, password, eshop_id
        # API users: username -> (password, the e-shop it may write). One Foxdeli serves several
        # merchants' accounts at one API root, as the real one does.
        self.accounts: dict[str, tuple[str, str]] = {username: (password, eshop_id)}
        self.token_users: dict[str, str] = {}  # token -> username
        self._eshop = eshop_id  # the e-shop of the request being handled (under self.lock)
        self.token_lifetime_s, self.jwt_exp = token_lifetime_s, jwt_exp
        self.tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        self.invalid_requests: list[InvalidRequest] = []
        self.auth_count = 0
        self.reject_all_tokens = False  # every API call answers 401, even with a fresh token
        self._serial = itertools.count(1)

    # -- test helpers ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (orders, tokens, log, faults, flags): lets tests share one server."""
        with self.lock:
            for collection in (
                self.tokens,
                self.orders,
                self.by_external,
                self.invalid_requests,
                self.requests,
                self.faults,
            ):
                collection.clear()
            self.auth_count, self.reject_all_tokens = 0, False

    def add_account(self, username: str, password: str, eshop_id: str) -> None:
        """Another API user with its own e-shop (another merchant's Foxdeli account)."""
        with self.lock:
            self.accounts[username] = (password, eshop_id)

    def orders_of(self, eshop_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for o in self.orders.values() if o.get("eshopId") == eshop_id]

    def revoke_tokens(self) -> None:
        """Make every issued token invalid at once (the server forgot them)."""
        with self.lock:
            self.tokens.clear()

    def order_by_external(self, external_id: str, eshop_id: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            order_id = self.by_external.get((eshop_id or self.eshop_id, external_id))
            return self.orders.get(order_id) if order_id else None

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/customer/api/v1/token/authorize" and request.method == "POST":
                return self._authorize(request)
            if not request.path.startswith("/tracking/api/v1/order"):
                return problem(404, "Not Found", request.path)
            denied = self._check_token(request)
            if denied:
                return denied
            body, error = self._body(request)
            if error:
                return error
            if request.path == "/tracking/api/v1/order":
                if request.method == "POST":
                    return self._create(request, body)
                if request.method == "GET":
                    return self._find(request)
            match = _ORDER.match(request.path)
            if match:
                return self._order_route(
                    request, body, match.group("id"), match.group("rest") or "", match.group("parcel")
                )
            return problem(404, "Not Found", request.path)

    def _order_route(self, request: Request, body: Any, order_id: str, rest: str, parcel_id: str | None) -> Response:
        order = self.orders.get(order_id)
        if order is None or order.get("eshopId") != self._eshop:  # another account's order is not there
            return problem(404, "Order was not found", f"Order with id {order_id} doesn't exist")
        if rest == "" and request.method == "GET":
            return Response(200, order)
        if rest == "" and request.method == "PATCH":
            return self._update(request, order, body)
        if rest == "/cancel" and request.method == "PUT":
            order["orderState"] = "CANCELLED"
            return Response(200, order)
        if rest == "/parcel" and request.method == "POST":
            return self._create_parcel(request, order, body)
        if parcel_id is not None:
            return self._parcel_route(request, order, parcel_id, body)
        return problem(405, "Method Not Allowed", f"{request.method} {request.path}")

    # -- auth -----------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        try:
            credentials = request.json()
        except ValueError:
            return problem(400, "Bad Request", "Failed to read request")
        user = credentials.get("email") if isinstance(credentials, dict) else None
        if (
            not isinstance(user, str)
            or user not in self.accounts
            or credentials.get("password") != self.accounts[user][0]
        ):
            return problem(401, "Unauthorized", "Bad credentials")
        self.auth_count += 1
        expires = time.time() + self.token_lifetime_s
        claims: dict[str, Any] = {"sub": user, "jti": str(uuid.uuid4())}
        if self.jwt_exp:
            claims["exp"] = int(expires) if self.token_lifetime_s >= 5 else expires
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.{_b64({'sig': next(self._serial)})}"
        self.tokens[token] = expires
        self.token_users[token] = user
        return Response(200, {"token": token, "refreshToken": token + ".refresh"})

    def _check_token(self, request: Request) -> Response | None:
        token = request.headers.get("X-API-Key")
        expires = self.tokens.get(token or "")
        user = self.token_users.get(token or "")
        if expires is None or self.reject_all_tokens or user not in self.accounts:
            return problem(401, "Invalid API token provided.")
        self._eshop = self.accounts[user][1]
        if time.time() >= expires:
            return problem(
                401, f"The Token has expired on {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expires))}."
            )
        return None

    def _body(self, request: Request) -> tuple[Any, Response | None]:
        if request.method not in ("POST", "PATCH") or request.path.endswith("/cancel"):
            return None, None
        content_type = request.headers.get("Content-Type", "")
        if not content_type.startswith("application/json"):
            return None, self._invalid(request, {"Content-Type": f"unsupported: {content_type}"}, status=415)
        try:
            return request.json(), None
        except ValueError:
            return None, self._invalid(request, {"body": "Failed to read request"})

    def _invalid(self, request: Request, violations: dict[str, str], status: int = 400) -> Response:
        self.invalid_requests.append(InvalidRequest(request.method, request.path, violations))
        title = "Bad Request" if status == 400 else "Unsupported Media Type"
        return problem(status, title, "Input data validation error - constraint violation.", violations=violations)

    # -- orders -----------------------------------------------------------------------------------
    def _create(self, request: Request, body: Any) -> Response:
        violations = validate_order(body)
        if violations:
            return self._invalid(request, violations)
        if body["eshopId"] != self._eshop:
            return problem(
                403,
                "Eshop was not found for this API key",
                f"Eshop with id {body['eshopId']} doesn't exist in this account.",
                eshopId=body["eshopId"],
            )
        external = body.get("externalIdentifier")
        if external and (self._eshop, external) in self.by_external:
            return problem(
                409,
                "Order exists",
                f"Order with externalId {external} already exists",
                resourceType="Order",
                resourceId=external,
                resourceIdName="externalId",
            )
        order_id = str(uuid.uuid4())
        order = {
            **body,
            "id": order_id,
            "orderState": "CREATED",
            "parcels": [],
            "links": {"trackAndTrace": {"href": f"{self.url}/tt/order/{order_id}"}},
        }
        self.orders[order_id] = order
        if external:
            self.by_external[(self._eshop, external)] = order_id
        return Response(201, order)

    def _find(self, request: Request) -> Response:
        external = (request.query.get("externalId") or [""])[0]
        eshop = (request.query.get("eshopId") or [""])[0]
        if eshop != self._eshop:
            return problem(
                403, "Eshop was not found for this API key", f"Eshop with id {eshop} doesn't exist in this account."
            )
        order_id = self.by_external.get((eshop, external))
        if order_id is None:
            return problem(404, "Order was not found", f"Order with externalId {external} doesn't exist")
        return Response(200, self.orders[order_id])

    def _update(self, request: Request, order: dict[str, Any], body: Any) -> Response:
        violations = validate_order(body, update=True)
        if violations:
            return self._invalid(request, violations)
        if body.get("externalIdentifier") not in (None, order.get("externalIdentifier")):
            taken = self.by_external.get((self._eshop, body["externalIdentifier"]))
            if taken and taken != order["id"]:
                return problem(409, "Order exists", "externalIdentifier belongs to another order")
        order.update(body)  # arrays replaced: our reading of PATCH, which the docs leave open
        return Response(200, order)

    # -- parcels ----------------------------------------------------------------------------------
    def _create_parcel(self, request: Request, order: dict[str, Any], body: Any) -> Response:
        violations = validate_parcel(body)
        if violations:
            return self._invalid(request, violations)
        parcel = {**body, "id": str(uuid.uuid4()), "orderId": order["id"], "state": {"delivery": "CREATED"}}
        order["parcels"].append(parcel)
        return Response(201, parcel)

    def _parcel_route(self, request: Request, order: dict[str, Any], parcel_id: str, body: Any) -> Response:
        parcel = next((p for p in order["parcels"] if p["id"] == parcel_id), None)
        if parcel is None:
            return problem(404, "Parcel was not found", f"Parcel with id {parcel_id} doesn't exist")
        if request.method == "GET":
            return Response(200, parcel)
        if request.method == "DELETE":
            order["parcels"].remove(parcel)
            return Response(204)
        if request.method == "PATCH":
            violations = validate_parcel(body)
            if violations:
                return self._invalid(request, violations)
            parcel.update(body)
            return Response(200, parcel)
        return problem(405, "Method Not Allowed", f"{request.method} {request.path}")
