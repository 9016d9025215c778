"""One parser for Shopify ids (connector.shopify.ids): what it takes and what it refuses."""

from __future__ import annotations

import pytest

from connector.shopify.ids import gid_id, resource_id, shopify_id


@pytest.mark.parametrize("value, expected", [
    (820982911946154508, "820982911946154508"), (2**64, "18446744073709551616"), ("450789469", "450789469"),
    ("007", "007"),  # a digit string is kept as sent: it is what the store keys on
])
def test_positive_ints_and_ascii_digit_strings_are_ids(value, expected):
    assert shopify_id(value) == expected


@pytest.mark.parametrize("value", [
    True, False, 0, -1, "0", "00", "", " 1", "1 ", "12a", "-5", "\u0663", "\u00b2", 1.0, 8.209829119461545e17,
    None, [1], {"id": 1},
])
def test_everything_else_is_refused(value):
    assert shopify_id(value) is None


def test_a_gid_gives_its_exact_id_and_a_query_string_is_ignored():
    assert gid_id("gid://shopify/Order/820982911946154508") == "820982911946154508"
    assert gid_id("gid://shopify/LineItem/5?x=1") == "5"
    for bad in ("gid://shopify/Order/", "gid://shopify/Order/0", "Order/5", "gid://other/Order/5", 5, None):
        assert gid_id(bad) is None


def test_a_resources_gid_wins_over_its_possibly_rounded_id():
    rounded = {"id": 487817672276298560, "admin_graphql_api_id": "gid://shopify/LineItem/487817672276298554"}
    assert resource_id(rounded) == "487817672276298554"
    assert resource_id({"id": 5, "admin_graphql_api_id": "not a gid"}) == "5"
    assert resource_id({"id": 8.2e17}) is None
    assert resource_id("5") is None
