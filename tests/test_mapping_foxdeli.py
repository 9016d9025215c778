"""Foxdeli mapping: golden files over every order fixture, plus the rules behind them.

Goldens live in tests/golden/foxdeli/; ``UPDATE_GOLDEN=1`` rewrites them (review the diff).
Validity is checked with the stand-in's seed-derived schema, so "never an invalid request" is
tested against the same rules the stand-in enforces.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connector.errors import MappingError
from connector.sandbox.foxdeli import ESHOP_ID
from connector.sandbox.foxdeli_schema import validate_order, validate_parcel
from connector.targets.foxdeli import enums
from connector.targets.foxdeli.carriers import DEFAULT_CARRIERS, carrier_from_url, carrier_table, map_carrier
from connector.targets.foxdeli.client import order_update_body, public_body
from connector.targets.foxdeli.mapping import map_fulfillment, map_order, required_id
from connector.targets.foxdeli.payment import PAYMENT_STATES
from connector.targets.foxdeli.settings import FoxdeliSettings
from tests.golden import assert_golden, load_fixture, order_fixtures

SETTINGS = FoxdeliSettings.from_target({"eshop_id": ESHOP_ID})
# A copy of the vendor page the project was built from (https://api.foxdeli.com/docs/api/tracking/create-order).
SEED = Path(__file__).parent / "fixtures" / "vendor" / "foxdeli-order-api.seed.txt"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
FULFILLMENTS = ["fulfillments_create.shopify-docs-2026-04.json",
                "fulfillments_create.shopify-fulfillment-integration-2014.json"]
# Which seed enum each key must come from, wherever it appears in a payload.
ENUM_KEYS = {"countryCode": enums.COUNTRY_CODES, "carrier": enums.CARRIERS, "language": enums.LANGUAGES,
             "state": enums.PAYMENT_STATES, "method": enums.PAYMENT_METHODS, "service": enums.PAYMENT_SERVICES}


def sample() -> dict[str, Any]:
    return load_fixture("orders_create.shopify-docs-sample.exact-ids.json")


def assert_valid(payload: dict[str, Any]) -> None:
    assert validate_order(public_body(payload)) == {}
    assert validate_order(order_update_body(payload), update=True) == {}


def walk(value: Any, path: str = ""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
            yield f"{path}.{key}", key, item
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


# -- goldens ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", order_fixtures())
def test_order_fixture_matches_golden_and_is_valid(name: str) -> None:
    payload = map_order(load_fixture(name), SETTINGS)
    assert_valid(payload)
    assert_golden(payload, "foxdeli", name)


@pytest.mark.parametrize("name", FULFILLMENTS)
def test_fulfillment_fixture_matches_golden_and_is_valid(name: str) -> None:
    payload = map_fulfillment(load_fixture(name), SETTINGS)
    assert payload["parcels"] and all(validate_parcel(parcel) == {} for parcel in payload["parcels"])
    assert_golden(payload, "foxdeli", name)


@pytest.mark.parametrize("name", order_fixtures())
def test_every_enum_value_and_format_is_the_seeds(name: str) -> None:
    payload = map_order(load_fixture(name), SETTINGS)
    for path, key, value in walk(payload):
        if key == "type":
            allowed = (enums.DESTINATION_TYPES if path == ".destination.type" else
                       enums.ADDITIONAL_COST_TYPES if path.startswith(".additionalCosts") else enums.PRODUCT_TYPES)
            assert value in allowed, path
        elif key in ENUM_KEYS and (path.startswith(".payment") or key not in ("state", "method", "service")):
            assert value in ENUM_KEYS[key], path
        elif key in ("externalCreated", "occurred", "_cancelled"):
            assert DATETIME.match(value), path
        elif key == "amount":
            assert isinstance(value, float) and value >= 0, path


def test_mapping_is_deterministic_and_does_not_touch_its_input() -> None:
    for name in order_fixtures():
        order = load_fixture(name)
        before = copy.deepcopy(order)
        assert map_order(order, SETTINGS) == map_order(order, SETTINGS)
        assert order == before


def test_enums_are_exactly_the_seeds_lists() -> None:
    seed = SEED.read_text(encoding="utf-8")
    lists = [frozenset(v.strip(" ,\n") for v in body.split("\n") if v.strip(" ,\n"))
             for body in re.findall(r"Possible values: \[(.*?)\]", seed, re.S)]
    for name in ("ADDITIONAL_COST_TYPES", "PAYMENT_STATES", "PAYMENT_METHODS", "PAYMENT_SERVICES",
                 "DESTINATION_TYPES", "COUNTRY_CODES", "CARRIERS", "PRODUCT_TYPES", "LANGUAGES"):
        assert getattr(enums, name) in lists, name


# -- identifiers, amounts, timestamps ---------------------------------------------------------------------
def test_64_bit_ids_stay_exact() -> None:
    assert map_order(sample(), SETTINGS)["externalIdentifier"] == "820982911946154508"
    assert map_order(load_fixture("orders_multi_currency.json"), SETTINGS)["externalIdentifier"] == "9007199254740993"
    assert required_id({"id": 2**63 - 1}) == "9223372036854775807"


def test_a_float_id_falls_back_to_the_exact_graphql_id_or_is_rejected() -> None:
    rounded = {"id": 8.209829119461545e17, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508"}
    assert required_id(rounded) == "820982911946154508"
    with pytest.raises(MappingError, match="no usable id"):
        required_id({"id": 8.209829119461545e17})


def test_amounts_are_json_numbers_with_the_exact_decimal_text() -> None:
    payload = map_order(sample(), SETTINGS)
    assert payload["price"] == {"amount": 369.97, "currency": "USD"}
    assert json.dumps(payload["price"]["amount"]) == "369.97"
    amounts = [v for _, k, v in walk(payload) if k == "amount"]
    assert amounts and all(type(a) is float for a in amounts)
    assert Decimal(json.dumps(payload["products"][0]["price"]["amount"])) == Decimal("89.99")


def test_prices_use_the_customers_presentment_currency() -> None:
    payload = map_order(load_fixture("orders_multi_currency.json"), SETTINGS)
    currencies = {v for _, k, v in walk(payload) if k == "currency"}
    assert currencies == {"CHF"}
    assert payload["price"]["amount"] == 154.33


def test_timestamps_are_utc_with_milliseconds() -> None:
    payload = map_order(sample(), SETTINGS)
    assert payload["externalCreated"] == "2022-01-01T00:00:00.000Z"  # 2021-12-31T19:00:00-05:00
    digital = map_order(load_fixture("orders_digital_only.json"), SETTINGS)
    assert digital["externalCreated"] == "2024-05-03T20:59:59.125Z"


def test_legacy_payload_without_current_fields_uses_total_price() -> None:
    payload = map_order(load_fixture("orders_create.shopify-test-notification-2017.json"), SETTINGS)
    assert payload["price"] == {"amount": 57.98, "currency": "USD"}


# -- cancellation -----------------------------------------------------------------------------------
def test_cancelled_sample_order_is_mapped_and_marked() -> None:
    payload = map_order(sample(), SETTINGS)  # test, voided, cancelled: still mapped
    assert payload["_cancelled"] == "2022-01-01T00:00:00.000Z"
    assert payload["payment"]["state"] == "UNKNOWN"
    assert "_cancelled" not in public_body(payload)


def test_cancelling_changes_the_hashed_payload() -> None:
    def digest(order: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(map_order(order, SETTINGS), sort_keys=True).encode()).hexdigest()
    order = load_fixture("orders_cod.json")
    open_digest = digest(order)
    order.update(cancelled_at="2024-05-01T10:00:00+02:00", cancel_reason="customer")
    assert digest(order) != open_digest


# -- fallbacks ------------------------------------------------------------------------------------
def test_missing_contacts_become_empty_strings_never_null() -> None:
    no_phone = map_order(load_fixture("orders_no_phone.json"), SETTINGS)["customer"]
    no_email = map_order(load_fixture("orders_no_email.json"), SETTINGS)["customer"]
    assert no_phone == {"name": "Marek Kowalski", "email": "marek.kowalski@example.pl", "phone": ""}
    assert no_email == {"name": "Tomás García", "email": "", "phone": "+34612345678"}


def test_customer_name_falls_back_to_addresses_then_email_then_placeholder() -> None:
    order = sample()
    order["customer"] = None
    assert map_order(order, SETTINGS)["customer"]["name"] == "Steve Shipper"
    order.update(billing_address=None, shipping_address=None)
    assert map_order(order, SETTINGS)["customer"]["name"] == "jon@example.com"
    order.update(email=None, contact_email=None)
    payload = map_order(order, SETTINGS)
    assert payload["customer"] == {"name": "Customer", "email": "", "phone": ""}
    assert_valid(payload)


@pytest.mark.parametrize("locale, expected", [
    ("en", "en"), ("cs-CZ", "cs"), ("pt_BR", "pt"), ("zh-CN", "zh"), ("xx", "undefined"),
    ("", "undefined"), (None, "undefined"), ("fil", "undefined"), (42, "undefined"),
])
def test_language_is_from_the_seeds_list_or_undefined(locale: Any, expected: str) -> None:
    order = sample()
    order["customer_locale"] = locale
    assert map_order(order, SETTINGS)["language"] == expected


@pytest.mark.parametrize("code, expected", [("us", "US"), ("XX", "UNDEFINED"), ("", "UNDEFINED"), (None, "UNDEFINED")])
def test_country_codes_outside_iso_become_undefined(code: Any, expected: str) -> None:
    order = sample()
    order["shipping_address"]["country_code"] = code
    payload = map_order(order, SETTINGS)
    assert payload["destination"]["address"]["countryCode"] == expected
    assert_valid(payload)


def test_incomplete_shipping_address_gives_no_destination() -> None:
    order = sample()
    order["shipping_address"]["address1"] = "  "
    payload = map_order(order, SETTINGS)
    assert "destination" not in payload
    assert_valid(payload)


def test_orders_that_ship_nothing_have_no_destination() -> None:
    assert "destination" not in map_order(load_fixture("orders_digital_only.json"), SETTINGS)
    order = sample()
    for line in order["line_items"]:
        line["requires_shipping"] = False
    assert "destination" not in map_order(order, SETTINGS)


@pytest.mark.parametrize("attributes, title, expected_type, expected_carrier", [
    ({"pickup_point_id": "24817", "pickup_point_carrier": "Packeta", "pickup_point_type": "box"}, "Zásilkovna", "PARCEL_BOX", "PACKETA"),
    ({"Pickup point ID": "CZ-1234"}, "PPL ParcelShop", "PARCEL_SHOP", "PPL"),
    ({"paczkomat": "KRA01M"}, "InPost Paczkomaty 24/7", "PARCEL_BOX", "INPOST"),
    ({"parcel_shop_id": "77"}, "Our own courier", "PARCEL_SHOP", "UNKNOWN"),
])
def test_pickup_points_from_note_attributes(attributes: dict[str, str], title: str, expected_type: str,
                                            expected_carrier: str) -> None:
    order = sample()
    order["note_attributes"] = [{"name": k, "value": v} for k, v in attributes.items()]
    order["shipping_lines"][0].update(title=title, source="shopify", code=None)
    payload = map_order(order, SETTINGS)
    destination = payload["destination"]
    assert destination["type"] == expected_type
    assert destination["parcelShop"]["carrier"] == expected_carrier
    assert destination["parcelShop"]["parcelShopId"] == next(iter(attributes.values()))
    assert_valid(payload)


def test_refunded_quantities_without_current_quantity_are_subtracted() -> None:
    order = load_fixture("orders_refunded_line.json")
    for line in order["line_items"]:
        del line["current_quantity"]
    products = map_order(order, SETTINGS)["products"]
    assert [(p["sku"], p["quantity"]) for p in products] == [("TAL-FEH-27", 1)]


def test_products_types_vat_and_sku_fallback() -> None:
    products = map_order(load_fixture("orders_gift_card.json"), SETTINGS)["products"]
    assert products[0]["type"] == "VOUCHER" and products[0]["sku"] == "variant-44100000000501"
    assert products[1]["vat"] == 0.0
    cod = map_order(load_fixture("orders_cod.json"), SETTINGS)["products"]
    assert {p["vat"] for p in cod} == {21.0}
    assert len(map_order(load_fixture("orders_many_lines.json"), SETTINGS)["products"]) == 64


def test_additional_costs_have_non_blank_names() -> None:
    order = sample()
    order["shipping_lines"][0].update(title="   ", code=None)
    costs = map_order(order, SETTINGS)["additionalCosts"]
    assert costs == [{"type": "SHIPPING", "price": {"amount": 10.0, "currency": "USD"}, "name": "Shipping"}]
    duties = map_order(load_fixture("orders_multi_currency.json"), SETTINGS)["additionalCosts"]
    assert {c["type"] for c in duties} == {"SHIPPING", "DUTY"}


@pytest.mark.parametrize("status", ["paid", "partially_refunded", "refunded", "pending", "authorized",
                                    "partially_paid", "unpaid", "voided", "expired", "weird", None])
def test_every_financial_status_maps_to_a_seed_state(status: Any) -> None:
    order = sample()
    order["financial_status"] = status
    state = map_order(order, SETTINGS)["payment"]["state"]
    assert state in enums.PAYMENT_STATES
    assert state == PAYMENT_STATES.get(status or "", "UNKNOWN")


@pytest.mark.parametrize("gateways, method, service", [
    (["Cash on Delivery (COD)"], "CASH_ON_DELIVERY", None), (["Dobírka"], "CASH_ON_DELIVERY", None),
    (["Bank Deposit"], "BANK_TRANSFER", None), (["shopify_payments"], "CARD", None),
    (["paypal"], "OTHER", "PAYPAL"), (["gift_card", "shopify_payments"], "CARD", None),
    (["gift_card"], "OTHER", None), (["Coinbase Commerce"], "CRYPTO", None), (["manual"], "OTHER", None),
    (["codebreaker pay"], "OTHER", None),
])
def test_payment_method_and_service_from_gateways(gateways: list[str], method: str, service: str | None) -> None:
    order = sample()
    order["payment_gateway_names"] = gateways
    payment = map_order(order, SETTINGS)["payment"]
    assert payment["method"] == method and payment.get("service") == service


def test_cash_on_delivery_amount_is_what_the_courier_collects() -> None:
    order = load_fixture("orders_cod.json")
    assert map_order(order, SETTINGS)["cashOnDelivery"] == {"amount": 986.0, "currency": "CZK"}
    order["financial_status"] = "paid"
    assert map_order(order, SETTINGS)["cashOnDelivery"] == {"amount": 0.0, "currency": "CZK"}
    assert "cashOnDelivery" not in map_order(sample(), SETTINGS)


def test_unusable_data_is_rejected_with_a_reason() -> None:
    order = sample()
    for key in ("current_total_price", "current_total_price_set", "total_price", "total_price_set"):
        order.pop(key)
    with pytest.raises(MappingError, match="total price"):
        map_order(order, SETTINGS)
    with pytest.raises(MappingError, match="eshop_id"):
        map_order(sample(), FoxdeliSettings.from_target({}))
    with pytest.raises(MappingError, match="not a Foxdeli carrier"):
        map_order(sample(), replace(SETTINGS, carriers={"My Courier": "MY_COURIER"}))


@hsettings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(locale=st.one_of(st.none(), st.text(max_size=8)), country=st.one_of(st.none(), st.text(max_size=3)),
       status=st.one_of(st.none(), st.text(max_size=12)), gateway=st.text(max_size=20),
       price=st.one_of(st.none(), st.text(max_size=8), st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)),
       title=st.one_of(st.none(), st.text(max_size=6)), phone=st.one_of(st.none(), st.text(max_size=6)))
def test_odd_shopify_values_never_produce_an_invalid_request(locale, country, status, gateway, price, title, phone) -> None:
    order = sample()
    order.update(customer_locale=locale, financial_status=status, payment_gateway_names=[gateway], phone=phone)
    order["shipping_address"]["country_code"] = country
    order["shipping_lines"][0]["title"] = title
    order["line_items"][0]["price"] = price
    order["line_items"][0].pop("price_set")
    try:
        payload = map_order(order, SETTINGS)
    except MappingError:
        return
    assert_valid(payload)


# -- carriers and fulfillments ----------------------------------------------------------------------
def test_every_seed_carrier_is_reachable_by_its_own_name() -> None:
    for code in enums.CARRIERS:
        assert map_carrier(code.replace("_", " ").title()) == code
    assert set(DEFAULT_CARRIERS.values()) <= enums.CARRIERS


@pytest.mark.parametrize("company, expected", [
    ("DHL Express", "DHL"), ("Zásilkovna", "PACKETA"), ("GLS Slovakia", "GLS_SK"), ("GLS Slovakia s.r.o.", "GLS_SK"),
    ("Česká pošta", "CZECH_POST"), ("Royal Mail", "UNKNOWN"), ("Other", "UNKNOWN"), (None, "UNKNOWN"), ("", "UNKNOWN"),
])
def test_default_carrier_table(company: Any, expected: str) -> None:
    assert map_carrier(company) == expected


def test_carrier_overrides_from_settings() -> None:
    table = carrier_table({"Royal Mail": "landmark", "DHL Express": "UPS"})
    assert map_carrier("royal-mail", table) == "LANDMARK"
    assert map_carrier("DHL Express", table) == "UPS"
    assert carrier_from_url("https://wwwapps.ups.com/track?x=1") == "UPS"
    assert carrier_from_url("https://ups.com.evil.example/") is None


def test_fulfillment_maps_to_a_parcel_with_order_skus() -> None:
    fulfillment = load_fixture("fulfillments_create.shopify-fulfillment-integration-2014.json")
    payload = map_fulfillment(fulfillment, SETTINGS)
    [parcel] = payload["parcels"]
    assert parcel["tracking"] == [{"carrier": "UPS", "number": "1Z2345"}]  # from the tracking URL
    assert payload["_orderExternalId"] == "450789469"
    fulfillment["line_items"][0]["sku"] = ""
    assert map_fulfillment(fulfillment, SETTINGS)["parcels"][0]["products"] == ["variant-39072856"]


def test_fulfillment_without_number_or_cancelled() -> None:
    fulfillment = load_fixture("fulfillments_create.shopify-docs-2026-04.json")
    fulfillment.update(tracking_number=None, tracking_numbers=[], status="cancelled")
    payload = map_fulfillment(fulfillment, replace(SETTINGS, carriers={"UPS": "DHL"}))
    [parcel] = payload["parcels"]  # a parcel without a number yet: Foxdeli's documented workflow
    assert parcel["tracking"] == [{"carrier": "DHL"}]
    assert DATETIME.match(payload["_cancelled"])
    assert validate_parcel(parcel) == {}


def test_several_tracking_numbers_are_several_parcels_each_with_its_carrier() -> None:
    """One shipment in three packages: three parcels, each tracking its own number with the
    carrier its own URL names (tracking_company says nothing Foxdeli knows)."""
    fulfillment = load_fixture("fulfillments_create.shopify-docs-2026-04.json")
    fulfillment.update(
        tracking_company="Other", tracking_number="1Z999AA10123456784",
        tracking_numbers=["1Z999AA10123456784", "JD014600006281230704", "1Z999AA10123456784", "NOURL-7"],
        tracking_urls=["https://www.ups.com/track?tracknum=1Z999AA10123456784",
                       "https://www.dhl.com/en/express/tracking.html?AWB=JD014600006281230704"],
        tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
    )
    payload = map_fulfillment(fulfillment, SETTINGS)
    assert [p["tracking"] for p in payload["parcels"]] == [
        [{"carrier": "UPS", "number": "1Z999AA10123456784"}],
        [{"carrier": "DHL", "number": "JD014600006281230704"}],
        [{"carrier": "UPS", "number": "NOURL-7"}],  # no URL of its own: the shipment's carrier
    ]
    skus = payload["parcels"][0]["products"]
    assert skus and all(p["products"] == skus for p in payload["parcels"])  # Shopify says not which box holds what
    assert all(validate_parcel(p) == {} for p in payload["parcels"])
    # A known tracking_company wins over the URLs, for every number.
    named = map_fulfillment({**fulfillment, "tracking_company": "DPD"}, SETTINGS)
    assert {p["tracking"][0]["carrier"] for p in named["parcels"]} == {"DPD"}
