"""Shopify ``financial_status`` and gateway names → Foxdeli ``PaymentRequest`` (pure).

Enums from the seed ``004_07df1430893145f9.txt``: state ∈ UNKNOWN/UNPAID/PAID, method ∈
CASH_ON_DELIVERY/BANK_TRANSFER/CARD/CRYPTO/OTHER, service ∈ PAYPAL/APPLE_PAY/GOOGLE_PAY/OTHER.
Shopify's gateway names are free text ("Cash on Delivery (COD)", "Bank Deposit", "paypal",
"shopify_payments"), so methods are found by keyword.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connector.targets.common import text, to_decimal, utc_millis

# https://shopify.dev/docs/api/admin-rest/latest/resources/order (financial_status).
# Refunded orders were paid: UNPAID would make Foxdeli chase a payment that is not owed.
# Voided means the authorisation was dropped: nobody will pay, but nobody should be asked to.
PAYMENT_STATES: Mapping[str, str] = {
    "paid": "PAID",
    "partially_refunded": "PAID",
    "refunded": "PAID",
    "pending": "UNPAID",
    "authorized": "UNPAID",
    "partially_paid": "UNPAID",
    "unpaid": "UNPAID",
    "voided": "UNKNOWN",
    "expired": "UNKNOWN",
}

# Checked in this order; the first matching pattern decides. Words, not substrings ("cod").
_METHODS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(r"\b(" + "|".join(words) + r")\b", re.I))
    for method, words in (
        (
            "CASH_ON_DELIVERY",
            (
                "cash on delivery",
                "cod",
                "dob[ií]rka",
                "na dobierku",
                "nachnahme",
                "pobranie",
                "contra ?reembolso",
                "ramburs",
                "ut[aá]nv[eé]t",
                "collect on delivery",
            ),
        ),
        (
            "BANK_TRANSFER",
            (
                "bank",
                "wire",
                "transfer",
                "p[řr]evod",
                "przelew",
                "[uü]berweisung",
                "vorkasse",
                "sepa",
                "invoice",
                "faktura",
                "prevodom",
            ),
        ),
        ("CRYPTO", ("crypto", "cryptocurrency", "bitcoin", "btc", "bitpay", "coinbase")),
        (
            "CARD",
            (
                "shopify payments",
                "card",
                "visa",
                "mastercard",
                "amex",
                "american express",
                "stripe",
                "braintree",
                "adyen",
                "bogus",
                "gopay",
                "comgate",
                "apple pay",
                "google pay",
                "klarna",
            ),
        ),
    )
)
_SERVICES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PAYPAL", re.compile(r"pay ?pal", re.I)),
    ("APPLE_PAY", re.compile(r"apple ?pay", re.I)),
    ("GOOGLE_PAY", re.compile(r"google ?pay", re.I)),
)
_GIFT_CARD = "gift card"


def _gateways(order: Mapping[str, Any]) -> list[str]:
    names = [text(g) for g in order.get("payment_gateway_names") or []]
    if not names:
        names = [text(order.get("gateway"))]  # legacy payloads carry a single ``gateway``
    return [n.replace("_", " ").lower() for n in names if n]


def gateway_method(gateway: str) -> str:
    """One (normalised) gateway name → payment method; OTHER when no keyword matches."""
    return next((method for method, pattern in _METHODS if pattern.search(gateway)), "OTHER")


def is_cash_on_delivery(order: Mapping[str, Any]) -> bool:
    """True when any gateway of the order is a cash-on-delivery one."""
    return any(gateway_method(g) == "CASH_ON_DELIVERY" for g in _gateways(order))


def map_payment(order: Mapping[str, Any]) -> dict[str, Any]:
    """``PaymentRequest``: state, method/service when a gateway names them, and ``occurred``.

    The method comes from COD if any gateway is COD (the customer still pays at the door), else
    from the first gateway that is not a gift card. ``occurred`` is ``processed_at``: Shopify's
    order does not say when the financial status last changed, and the clock is not an option
    in a pure mapping.
    """
    payment: dict[str, Any] = {"state": PAYMENT_STATES.get(str(order.get("financial_status") or ""), "UNKNOWN")}
    gateways = _gateways(order)
    paying = [g for g in gateways if g != _GIFT_CARD] or gateways
    if paying:
        if is_cash_on_delivery(order):
            payment["method"] = "CASH_ON_DELIVERY"
        else:  # a gift card is store credit, not a card payment
            payment["method"] = "OTHER" if paying[0] == _GIFT_CARD else gateway_method(paying[0])
        service = next((s for s, pattern in _SERVICES if any(pattern.search(g) for g in paying)), None)
        if service:
            payment["service"] = service
    occurred = utc_millis(order.get("processed_at")) or utc_millis(order.get("created_at"))
    if occurred:
        payment["occurred"] = occurred
    return payment


def cash_on_delivery(
    order: Mapping[str, Any], price: Mapping[str, Any], payment: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``cashOnDelivery``: what the courier collects, for COD orders only.

    Unpaid: ``total_outstanding`` when it is in the price's currency (it has no presentment
    variant), else the whole price. Paid (the courier already collected): 0, so an update
    clears the amount at Foxdeli instead of leaving the old one.
    """
    if not is_cash_on_delivery(order):
        return None
    currency = price["currency"]
    if payment.get("state") == "PAID":
        return {"amount": 0.0, "currency": currency}
    outstanding = to_decimal(order.get("total_outstanding"))
    if outstanding is not None and outstanding > 0 and currency == str(order.get("currency") or "").upper():
        return {"amount": float(outstanding), "currency": currency}
    return {"amount": price["amount"], "currency": currency}
