"""A strict parcelLab API v4 stand-in: ``PUT /v4/track/orders/`` over real HTTP.

Stricter than the real API where the real one is vague, so a mapping bug shows up as a failed
test rather than as a surprise in production. It checks what parcelLab's v4 documentation says
(https://docs.parcellab.com/docs/developers/v4/orders/trackings-orders; a copy is kept in the
repository as tests/fixtures/vendor/parcellab-v4-orders.seed.txt):
the Authorization header, the v4 field names (legacy v2 names such as ``orderNo``/``xid`` are
unknown fields), the amount pattern, alpha-3 countries, the required core fields, complete
addresses, date-only announced dates and the cancel-reason enum. Errors come back in parcelLab's
shape ``{"type": "validation_error", "errors": [{"code", "detail", "attr"}]}``.

State: orders by (account, order_number), trackings by (courier, tracking_number). Mutations
``add_tracking`` and ``cancel_order`` are applied and answered with ``mutations[].result``.
Every rejected request is kept in :attr:`invalid_requests` so tests can assert there were none.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pycountry

from connector.sandbox.server import Request, Response, StandIn

ORDER_FIELDS = {
    "account",
    "order_number",
    "external_id",
    "external_reference",
    "client_key",
    "destination_country_iso3",
    "language_iso2",
    "delivery_method",
    "recipient_email",
    "recipient_name",
    "customer_number",
    "invoice_number",
    "payment_method",
    "order_total_amount",
    "order_tax_amount",
    "order_net_amount",
    "order_discount_amount",
    "order_currency",
    "payment_details",
    "order_date",
    "channel",
    "announced_delivery_date",
    "announced_delivery_date_min",
    "announced_delivery_date_max",
    "timezone",
    "order_status",
    "has_multiple_shipments",
    "cancelled_date",
    "cancelled_reason",
    "tags",
    "shipping_address",
    "billing_address",
    "articles_order",
    "additional_attributes",
    "mutations",
}
REQUIRED = ("account", "order_number", "destination_country_iso3", "recipient_email")
AMOUNTS = ("order_total_amount", "order_tax_amount", "order_net_amount", "order_discount_amount")
DATES = ("announced_delivery_date", "announced_delivery_date_min", "announced_delivery_date_max")
ADDRESS_FIELDS = {"address_line", "postal_code", "city", "country_iso3", "first_name", "last_name"}
ADDRESS_REQUIRED = ("address_line", "postal_code", "city", "country_iso3")
ARTICLE_FIELDS = {
    "line_item_id",
    "sku",
    "article_name",
    "quantity",
    "unit_price",
    "article_category",
    "article_image_url",
    "article_store_url",
}
TRACKING_FIELDS = {
    "tracking_number",
    "courier",
    "recipient_postal_code",
    "destination_country_iso3",
    "language_iso2",
    "articles",
    "cancelled_date",
    "cancelled_reason",
    "notifications_inactive",
    "is_return",
    "announced_send_date",
}
CANCEL_REASONS = {"customer", "inventory", "payment", "other"}
AMOUNT_RE = re.compile(r"^-?\d{0,8}(?:\.\d{0,2})?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KNOWN_COURIERS = {
    "ups",
    "ups-mi",
    "fedex",
    "usps",
    "dhl-germany",
    "dhl-express",
    "dhl-gm",
    "dhl-benelux",
    "dpd",
    "dpd-de",
    "dpd-uk",
    "hermes-de",
    "gls",
    "royalmail",
    "colissimo",
    "mondial",
    "postnl",
    "chronopost",
}


class ParcellabStandIn(StandIn):
    """Strict parcelLab v4 orders endpoint. ``token``/``scheme`` define the accepted header."""

    def __init__(
        self, token: str = "pl-test-token", scheme: str = "Parcellab-API-Token", latency_s: float = 0.0
    ) -> None:
        super().__init__(latency_s)
        self.token = token
        self.scheme = scheme
        # Further tokens, each bound to one account (the account id is inside a real token).
        self.account_tokens: dict[str, int] = {}
        self.orders: dict[tuple[int, str], dict[str, Any]] = {}
        self.trackings: dict[tuple[str | None, str | None], dict[str, Any]] = {}
        self.invalid_requests: list[tuple[Request, list[dict[str, str]]]] = []
        self.failed_mutations: list[str] = []

    def reset(self) -> None:
        """Forget everything (state, request log, queued faults) so one server can serve many tests."""
        with self.lock:
            for store in (self.orders, self.trackings):
                store.clear()
            for log in (self.invalid_requests, self.failed_mutations, self.requests, self.faults):
                log.clear()

    def add_account(self, token: str, account: int) -> None:
        """Another parcelLab account and its API token (another merchant's)."""
        with self.lock:
            self.account_tokens[token] = account

    def orders_of(self, account: int) -> list[dict[str, Any]]:
        with self.lock:
            return [o for (acc, _), o in self.orders.items() if acc == account]

    def fail_next_mutation(self, message: str) -> None:
        """Answer the next mutation with ``success: false`` and this message (still HTTP 200)."""
        with self.lock:
            self.failed_mutations.append(message)

    # -- HTTP ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path != "/v4/track/orders/":
            return Response(404, {"detail": "Not found."})
        if request.method not in ("PUT", "GET"):
            return Response(405, {"detail": f'Method "{request.method}" not allowed.'})
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        known = token == self.token or token in self.account_tokens
        if scheme != self.scheme or not known:
            return self._reject(request, 401, "authentication_failed", "Invalid or missing token.", None)
        bound = self.account_tokens.get(token)
        if request.method == "GET":  # "Retrieve All Orders": DRF cursor pagination of the token's account
            with self.lock:
                mine = [o for (acc, _), o in self.orders.items() if bound is None or acc == bound]
            return Response(200, {"next": None, "previous": None, "results": mine[:20]})
        try:
            body = request.json()
        except ValueError:
            return self._reject(request, 400, "parse_error", "JSON parse error.", None)
        if bound is not None and isinstance(body, dict) and body.get("account") != bound:
            return Response(403, {"detail": "You do not have permission to perform this action."})
        errors = validate_order(body) if isinstance(body, dict) else [_err("invalid", "Expected an object.", None)]
        with self.lock:
            errors += self._conflicts(body) if not errors else []
            if errors:
                self.invalid_requests.append((request, errors))
                return Response(400, {"type": "validation_error", "errors": errors})
            return self._upsert(body)

    def _reject(self, request: Request, status: int, code: str, detail: str, attr: str | None) -> Response:
        error = _err(code, detail, attr)
        with self.lock:
            self.invalid_requests.append((request, [error]))
        return Response(status, {"type": "client_error", "errors": [error]})

    def _conflicts(self, body: dict[str, Any]) -> list[dict[str, str]]:
        """A courier + tracking_number pair already on another order is a 400 (parcelLab's v4 orders page)."""
        key = (body["account"], body["order_number"])
        errors = []
        for i, mutation in enumerate(body.get("mutations") or []):
            tracking = mutation.get("tracking") or {}
            owner = self.trackings.get((tracking.get("courier"), tracking.get("tracking_number")))
            if mutation.get("type") == "add_tracking" and owner and owner["order"] != key:
                errors.append(
                    _err(
                        "invalid",
                        f"tracking_number + courier already belongs to order {owner['order'][1]}",
                        f"mutations.{i}.tracking.tracking_number",
                    )
                )
        return errors

    def _upsert(self, body: dict[str, Any]) -> Response:
        key = (body["account"], body["order_number"])
        with self.lock:
            created = key not in self.orders
            order = self.orders.setdefault(key, {"external_id": str(uuid.uuid5(uuid.NAMESPACE_URL, repr(key)))})
            # PUT merges: fields sent replace stored ones, absent ones survive (parcelLab's v4 orders page).
            order.update({k: v for k, v in body.items() if k != "mutations"})
            results = [self._apply(key, order, m) for m in body.get("mutations") or []]
            answer = {"external_id": order["external_id"], "order_number": key[1], "mutations": results}
        return Response(201 if created else 200, answer)

    def _apply(self, key: tuple[int, str], order: dict[str, Any], mutation: dict[str, Any]) -> dict[str, Any]:
        kind = mutation["type"]
        if self.failed_mutations:
            return _result(kind, False, self.failed_mutations.pop(0))
        if kind == "cancel_order":
            order["order_status"] = "Cancelled"
            order.setdefault("cancelled_date", "now")
            return _result(kind, True, "order cancelled")
        tracking = mutation["tracking"]
        if tracking["courier"] not in KNOWN_COURIERS:
            return _result(kind, False, f"Unknown courier '{tracking['courier']}'")
        pair = (tracking["courier"], tracking["tracking_number"])
        stored = self.trackings.setdefault(pair, {"order": key})
        stored.update(tracking)
        return _result(kind, True, "tracking added")


def validate_order(body: dict[str, Any]) -> list[dict[str, str]]:
    """Every problem with one PUT body, in parcelLab's error-item shape."""
    errors = [_err("unknown_field", "Unknown field.", k) for k in body if k not in ORDER_FIELDS]
    errors += [_err("required", "This field is required.", k) for k in REQUIRED if body.get(k) in (None, "")]
    if body.get("account") is not None and (not isinstance(body["account"], int) or isinstance(body["account"], bool)):
        errors.append(_err("invalid", "A valid integer is required.", "account"))
    errors += _check_country(body.get("destination_country_iso3"), "destination_country_iso3")
    email = body.get("recipient_email")
    if email is not None and email != "_unset" and not re.fullmatch(r"[^@\s]+@[^@\s]+", str(email)):
        errors.append(_err("invalid", "Enter a valid email address.", "recipient_email"))
    for name in AMOUNTS:
        if name in body and not (isinstance(body[name], str) and AMOUNT_RE.match(body[name])):
            errors.append(_err("invalid", "Amount must be a decimal string.", name))
    errors += [
        _err("invalid", "Date has wrong format. Use YYYY-MM-DD.", d)
        for d in DATES
        if d in body and not (isinstance(body[d], str) and DATE_RE.match(body[d]))
    ]
    if "cancelled_reason" in body and body["cancelled_reason"] not in CANCEL_REASONS:
        errors.append(_err("invalid_choice", "Not a valid choice.", "cancelled_reason"))
    for tag in body.get("tags") or []:
        if not (isinstance(tag, str) and re.fullmatch(r"[^:]+:.+", tag)):
            errors.append(_err("invalid", "Tags must look like key:value.", "tags"))
    for name in ("shipping_address", "billing_address"):
        if name in body:
            errors += _check_address(body[name], name)
    errors += _check_articles(body.get("articles_order"), "articles_order", unique=True)
    for i, mutation in enumerate(body.get("mutations") or []):
        errors += _check_mutation(mutation, f"mutations.{i}")
    return errors


def _check_country(value: Any, attr: str) -> list[dict[str, str]]:
    if value is None:
        return []
    ok = isinstance(value, str) and len(value) == 3 and pycountry.countries.get(alpha_3=value) is not None
    return [] if ok else [_err("invalid", "Not a valid ISO 3166-1 alpha-3 code.", attr)]


def _check_address(address: Any, attr: str) -> list[dict[str, str]]:
    if not isinstance(address, dict):
        return [_err("invalid", "Expected an object.", attr)]
    errors = [_err("unknown_field", "Unknown field.", f"{attr}.{k}") for k in address if k not in ADDRESS_FIELDS]
    errors += [
        _err("required", "This field may not be blank.", f"{attr}.{k}") for k in ADDRESS_REQUIRED if not address.get(k)
    ]
    return errors + _check_country(address.get("country_iso3"), f"{attr}.country_iso3")


def _check_articles(articles: Any, attr: str, unique: bool) -> list[dict[str, str]]:
    if articles is None:
        return []
    if not isinstance(articles, list):
        return [_err("invalid", "Expected a list.", attr)]
    errors, seen = [], set()
    for i, article in enumerate(articles):
        here = f"{attr}.{i}"
        errors += [_err("unknown_field", "Unknown field.", f"{here}.{k}") for k in article if k not in ARTICLE_FIELDS]
        line_id = article.get("line_item_id")
        if not isinstance(line_id, str) or not line_id or (unique and line_id in seen):
            errors.append(_err("invalid", "line_item_id must be a unique string.", f"{here}.line_item_id"))
        seen.add(line_id)
        if "unit_price" in article and not (
            isinstance(article["unit_price"], str) and AMOUNT_RE.match(article["unit_price"])
        ):
            errors.append(_err("invalid", "Amount must be a decimal string.", f"{here}.unit_price"))
    return errors


def _check_mutation(mutation: Any, attr: str) -> list[dict[str, str]]:
    kind = mutation.get("type") if isinstance(mutation, dict) else None
    if kind == "cancel_order":
        return []
    if kind != "add_tracking":
        return [_err("invalid_choice", f"Unsupported mutation type {kind!r}.", f"{attr}.type")]
    tracking = mutation.get("tracking")
    if not isinstance(tracking, dict):
        return [_err("required", "This field is required.", f"{attr}.tracking")]
    here = f"{attr}.tracking"
    errors = [_err("unknown_field", "Unknown field.", f"{here}.{k}") for k in tracking if k not in TRACKING_FIELDS]
    errors += [
        _err("required", "This field is required.", f"{here}.{k}")
        for k in ("tracking_number", "courier")
        if not tracking.get(k)
    ]
    errors += _check_country(tracking.get("destination_country_iso3"), f"{here}.destination_country_iso3")
    if "notifications_inactive" in tracking and not isinstance(tracking["notifications_inactive"], bool):
        errors.append(_err("invalid", "Must be a valid boolean.", f"{here}.notifications_inactive"))
    return errors + _check_articles(tracking.get("articles"), f"{here}.articles", unique=True)


def _err(code: str, detail: str, attr: str | None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "attr": attr}


def _result(kind: str, success: bool, message: str) -> dict[str, Any]:
    return {"type": kind, "result": {"success": success, "message": message, "errors": {}, "warnings": []}}
