"""Shopify → parcelLab v4 mapping: golden files over every fixture, plus the rules one by one."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import MappingError, WaitingError
from connector.targets.parcellab.couriers import courier_code
from connector.targets.parcellab.mapping import AMOUNT_PATTERN, amount, map_fulfillment, map_order
from connector.targets.parcellab.settings import ParcellabSettings
from connector.targets.parcellab.timezones import country_timezone
from tests.golden import FIXTURES_DIR, assert_golden, load_fixture, order_fixtures

SETTINGS = ParcellabSettings.from_target({
    "account": "1612345",
    "client_key": "mybrand-a.com",
    "carriers": {"Regional Express Kurier": "dhl-express"},
})
DOCS_ORDER = "orders_create.shopify-docs-sample.exact-ids.json"
DE_ORDER = "orders_pl_de_split_shipment.json"
FULFILLMENT_FIXTURES = sorted(p.name for p in FIXTURES_DIR.glob("fulfillments_create.*.json"))


def mapped_or_error(order: dict[str, Any]) -> dict[str, Any]:
    """The mapped body, or the refusal: a fixture that cannot be mapped is still a golden case."""
    try:
        return map_order(order, SETTINGS)
    except MappingError as exc:
        return {"mapping_error": exc.reason}


def docs_order(**changes: Any) -> dict[str, Any]:
    order = load_fixture(DOCS_ORDER)
    order.update(changes)
    return order


# -- golden files --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", order_fixtures())
def test_order_matches_golden(name: str) -> None:
    assert_golden(mapped_or_error(load_fixture(name)), "parcellab", name)


@pytest.mark.parametrize("name", FULFILLMENT_FIXTURES)
def test_fulfillment_matches_golden(name: str) -> None:
    # Paired with Shopify's docs order for the core fields; alone, it must name its own order.
    fulfillment = load_fixture(name)
    try:
        alone: Any = map_fulfillment(fulfillment, None, SETTINGS)
    except WaitingError as exc:
        alone = {"waiting": exc.reason}
    actual = {"with_order": map_fulfillment(fulfillment, load_fixture(DOCS_ORDER), SETTINGS), "without_order": alone}
    assert_golden(actual, "parcellab", name)


# -- rules that hold for every fixture -------------------------------------------------------------
def walk(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from walk(value, f"{path}.{index}")
    else:
        yield path, obj


def mapped_fixtures() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in order_fixtures():
        body = mapped_or_error(load_fixture(name))
        if "mapping_error" not in body:
            out.append((name, body))
    return out


@pytest.mark.parametrize("name,body", mapped_fixtures())
def test_every_amount_is_a_pattern_string(name: str, body: dict[str, Any]) -> None:
    amounts = [(p, v) for p, v in walk(body) if p.endswith("_amount") or p.endswith("unit_price")]
    assert amounts
    for path, value in amounts:
        assert isinstance(value, str) and AMOUNT_PATTERN.match(value), (path, value)


@pytest.mark.parametrize("name,body", mapped_fixtures())
def test_every_country_is_valid_alpha3(name: str, body: dict[str, Any]) -> None:
    countries = [(p, v) for p, v in walk(body) if p.endswith("country_iso3")]
    assert any(p == "destination_country_iso3" for p, _ in countries)
    for path, value in countries:
        assert pycountry.countries.get(alpha_3=value) is not None, (path, value)


@pytest.mark.parametrize("name,body", mapped_fixtures())
def test_core_fields_and_no_nulls(name: str, body: dict[str, Any]) -> None:
    assert isinstance(body["account"], int)
    assert body["order_number"] and body["recipient_email"]
    assert all(value is not None for _, value in walk(body))


@pytest.mark.parametrize("name", order_fixtures())
def test_mapping_is_pure_and_deterministic(name: str) -> None:
    order = load_fixture(name)
    before = copy.deepcopy(order)
    assert json.dumps(mapped_or_error(order)) == json.dumps(mapped_or_error(order))
    assert order == before


# -- one rule at a time --------------------------------------------------------------------------
def test_docs_sample_test_voided_cancelled_order_is_mapped_not_dropped() -> None:
    body = map_order(load_fixture(DOCS_ORDER), SETTINGS)
    assert body["order_status"] == "Cancelled"
    assert body["cancelled_reason"] == "customer"
    assert body["mutations"] == [{"type": "cancel_order"}]
    assert "shopify:test" in body["tags"]


def test_64bit_ids_stay_exact() -> None:
    body = map_order(load_fixture(DOCS_ORDER), SETTINGS)
    assert body["external_reference"] == "820982911946154508"
    assert body["customer_number"] == "115310627314723954"
    assert [a["line_item_id"] for a in body["articles_order"]] == [
        "487817672276298554", "976318377106520349", "315789986012684393"]
    big = map_order(load_fixture(DE_ORDER), SETTINGS)
    assert big["external_reference"] == "5726128734520987651"


def test_float_rounded_fulfillment_ids_recovered_from_gid() -> None:
    # Gadget's scrape rounded ids to float precision (fixtures README); the gids are exact and
    # must give the same line_item_id as the order's articles.
    fulfillment = load_fixture("fulfillments_create.shopify-docs-2026-04.json")
    body = map_fulfillment(fulfillment, load_fixture(DOCS_ORDER), SETTINGS)
    ids = {a["line_item_id"] for a in body["mutations"][0]["tracking"]["articles"]}
    order_ids = {a["line_item_id"] for a in map_order(load_fixture(DOCS_ORDER), SETTINGS)["articles_order"]}
    assert order_ids <= ids
    assert "487817672276298560" not in ids


@pytest.mark.parametrize("changes", [
    {"email": None, "contact_email": None, "customer": None},
    {"email": "", "contact_email": "not-an-email", "customer": {"email": None}},
])
def test_unknown_email_is_literal_unset(changes: dict[str, Any]) -> None:
    assert map_order(docs_order(**changes), SETTINGS)["recipient_email"] == "_unset"


def test_email_falls_back_to_customer() -> None:
    body = map_order(docs_order(email=None, contact_email=None), SETTINGS)
    assert body["recipient_email"] == "john@example.com"


@pytest.mark.parametrize("missing", ["address1", "zip", "city", "country_code"])
def test_incomplete_address_is_omitted(missing: str) -> None:
    order = docs_order()
    order["shipping_address"][missing] = None
    body = map_order(order, SETTINGS)
    assert "shipping_address" not in body
    assert body["billing_address"]["postal_code"] == "40003"
    assert body["destination_country_iso3"] == "USA"


def test_country_falls_back_to_billing_then_refuses() -> None:
    order = docs_order(shipping_address=None)
    order["billing_address"]["country_code"] = "DE"
    assert map_order(order, SETTINGS)["destination_country_iso3"] == "DEU"
    order["billing_address"]["country_code"] = "XX"
    with pytest.raises(MappingError, match="destination country"):
        map_order(order, SETTINGS)


@pytest.mark.parametrize("shopify,parcellab", [
    ("customer", "customer"), ("inventory", "inventory"), ("declined", "payment"),
    ("fraud", "other"), ("staff", "other"), ("other", "other"), (None, "other"), ("FRAUD", "other"),
])
def test_cancel_reasons_folded(shopify: str | None, parcellab: str) -> None:
    assert map_order(docs_order(cancel_reason=shopify), SETTINGS)["cancelled_reason"] == parcellab


def test_open_order_has_no_cancellation() -> None:
    body = map_order(docs_order(cancelled_at=None, cancel_reason=None), SETTINGS)
    assert "cancelled_date" not in body and "mutations" not in body
    assert body["order_status"] == "Processing"


@pytest.mark.parametrize("tags,expected", [
    ("tag1, tag2", ["tag:tag1", "tag:tag2"]),
    ("category: Home Apparel", ["category:Home Apparel"]),
    ("a:b:c, x:", ["a:b:c", "tag:x"]),
    ("", None),
    (["vip", "vip"], ["tag:vip"]),
])
def test_tags_become_key_value(tags: Any, expected: list[str] | None) -> None:
    assert map_order(docs_order(tags=tags, test=False), SETTINGS).get("tags") == expected


def test_silent_marks_every_tracking_inactive() -> None:
    loud = map_order(load_fixture(DE_ORDER), SETTINGS)
    quiet = map_order(load_fixture(DE_ORDER), SETTINGS, silent=True)
    assert all("notifications_inactive" not in m["tracking"] for m in loud["mutations"])
    assert all(m["tracking"]["notifications_inactive"] is True for m in quiet["mutations"])
    part = map_fulfillment(load_fixture("fulfillments_create.shopify-docs-2026-04.json"), None, SETTINGS, silent=True)
    assert part["mutations"][0]["tracking"]["notifications_inactive"] is True


def test_split_shipment_one_tracking_per_number() -> None:
    body = map_order(load_fixture(DE_ORDER), SETTINGS)
    numbers = [m["tracking"]["tracking_number"] for m in body["mutations"]]
    assert numbers == ["00340434292135100186", "H1001000000000002", "REK-1", "REK-2"]
    assert body["has_multiple_shipments"] is True
    # Several numbers in one fulfillment: which item is in which parcel is unknown.
    assert all("articles" not in m["tracking"] for m in body["mutations"][2:])
    assert body["mutations"][1]["tracking"]["cancelled_date"] == "2026-06-17T08:15:00.000Z"


def test_fulfillment_duplicate_numbers_collapse_and_missing_number_is_none() -> None:
    fulfillment = load_fixture("fulfillments_create.shopify-docs-2026-04.json")
    fulfillment["tracking_numbers"] = ["1z827wk74630", "1z827wk74630"]
    body = map_fulfillment(fulfillment, None, SETTINGS)
    assert len(body["mutations"]) == 1
    fulfillment.update(tracking_numbers=[], tracking_number=None)
    assert map_fulfillment(fulfillment, None, SETTINGS) is None


def test_fulfillment_unknown_courier_is_refused() -> None:
    fulfillment = load_fixture("fulfillments_create.shopify-fulfillment-integration-2014.json")
    fulfillment.update(tracking_url=None, tracking_urls=[])
    with pytest.raises(MappingError, match="target.carriers"):
        map_fulfillment(fulfillment, load_fixture(DOCS_ORDER), SETTINGS)


def test_order_with_uncourierable_fulfillment_is_still_mapped() -> None:
    order = load_fixture(DE_ORDER)
    order["fulfillments"][0].update(tracking_company=None, tracking_url=None, tracking_urls=[])
    numbers = [m["tracking"]["tracking_number"] for m in map_order(order, SETTINGS)["mutations"]]
    assert "00340434292135100186" not in numbers and "REK-1" in numbers


def test_account_must_be_numeric() -> None:
    with pytest.raises(MappingError, match="target.account"):
        map_order(load_fixture(DOCS_ORDER), replace(SETTINGS, account="acme"))


@pytest.mark.parametrize("company,url,overrides,expected", [
    ("UPS", None, None, "ups"),
    ("DHL Express", None, None, "dhl-express"),
    ("dhl_express", None, None, "dhl-express"),
    ("DPD", None, None, "dpd"),
    (None, "http://wwwapps.ups.com/etracking/tracking.cgi", None, "ups"),
    ("Other", "https://www.dhl.de/x", None, "dhl-germany"),
    ("Foo Express", None, None, "foo-express"),
    ("DHL", None, {"dhl": "dhl-de-custom"}, "dhl-de-custom"),
    (None, None, None, None),
])
def test_courier_codes(company: Any, url: Any, overrides: Any, expected: str | None) -> None:
    assert courier_code(company, url, overrides) == expected


@pytest.mark.parametrize("alpha2,zone", [("DE", "Europe/Berlin"), ("FR", "Europe/Paris"), ("US", None), ("ES", None)])
def test_timezone_only_for_single_clock_countries(alpha2: str, zone: str | None) -> None:
    assert country_timezone(alpha2) == zone


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9))
def test_amount_is_pattern_or_omitted(value: Decimal) -> None:
    out = amount(str(value))
    assert out is None or AMOUNT_PATTERN.match(out)
    if abs(value) < Decimal("99999999"):
        assert out is not None
