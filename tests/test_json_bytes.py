"""orjson encodes and parses, with the standard library's results: same bytes as before, ids exact."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connector import json_bytes
from connector.targets.foxdeli.mapping import map_order as foxdeli_order
from connector.targets.foxdeli.settings import FoxdeliSettings
from connector.targets.neutral import map_neutral_order
from connector.targets.parcellab.mapping import map_order as parcellab_order
from connector.targets.parcellab.settings import ParcellabSettings
from connector.worker.deliver import payload_hash
from tests.golden import load_fixture, order_fixtures

FOXDELI = FoxdeliSettings.from_target({"eshop_id": "12345678-1234-1234-1234-1234567890ab"})
PARCELLAB = ParcellabSettings.from_target({"token": "t", "account": "1612345", "client_key": "mybrand-a.com"})


def stdlib_canonical(value: object) -> bytes:
    """The canonical form payload hashes were taken of before orjson."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mapped_payloads() -> list[tuple[str, object]]:
    payloads = []
    for name in order_fixtures():
        order = load_fixture(name)
        payloads.append((f"http:{name}", map_neutral_order(order)))
        for kind, mapper, settings in (("foxdeli", foxdeli_order, FOXDELI), ("parcellab", parcellab_order, PARCELLAB)):
            try:
                payloads.append((f"{kind}:{name}", mapper(order, settings)))
            except Exception:  # noqa: BLE001 - fixtures a target refuses (tested in its own module)
                continue
    return payloads


def test_payload_hashes_are_unchanged_for_every_fixture_and_target() -> None:
    """Same canonical bytes as the standard library's: no already-synced order is re-sent."""
    payloads = mapped_payloads()
    assert len(payloads) > 20
    for label, payload in payloads:
        assert json_bytes.canonical(["t", "order", payload]) == stdlib_canonical(["t", "order", payload]), label
        assert json_bytes.dumps(payload) == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), label


@pytest.mark.parametrize("value", [
    {"id": 2**64 + 1, "b": "ž"},  # beyond orjson's 64 bits: the standard library writes it, exactly
    {"amount": Decimal("12.50")},  # not orjson's either (nor the standard library's: TypeError)
])
def test_what_orjson_cannot_write_takes_the_standard_librarys_path(value: dict) -> None:
    if any(isinstance(v, Decimal) for v in value.values()):
        with pytest.raises(TypeError):
            json_bytes.dumps(value)
        return
    assert json_bytes.dumps(value) == b'{"id":18446744073709551617,"b":"\xc5\xbe"}'
    assert json.loads(json_bytes.dumps(value))["id"] == 2**64 + 1
    assert payload_hash("http", "order", value) == payload_hash("http", "order", json.loads(json_bytes.dumps(value)))


def test_exact_ids_survive_the_round_trip_through_the_store_form() -> None:
    order = load_fixture("orders_create.shopify-docs-sample.exact-ids.json")
    big = dict(order, id=2**64 + 7)
    assert json.loads(json_bytes.dumps(big))["id"] == 2**64 + 7
    assert json.loads(json_bytes.dumps(order)) == order


def test_every_fixture_parses_as_the_standard_library_parses_it() -> None:
    from tests.golden import FIXTURES_DIR

    bodies = sorted(FIXTURES_DIR.rglob("*.json"))
    assert len(bodies) > 15
    for path in bodies:
        raw = path.read_bytes()
        assert json_bytes.loads(raw) == json.loads(raw.decode("utf-8")), path.name


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": 18446744073709551616}',  # 2**64: orjson would answer a float
        b'{"id": 18446744073709551615, "n": 1}',  # the largest 64-bit one
        b'[-9223372036854775809]',  # below -2**63: a float from orjson too
        b'{"id": 123456789012345678901234567890}',
        b'{"phone": "12345678901234567890"}',  # digits in a string: the slower path, same answer
    ],
)
def test_long_integers_stay_exact(raw: bytes) -> None:
    parsed = json_bytes.loads(raw)
    assert parsed == json.loads(raw)
    assert repr(parsed) == repr(json.loads(raw))  # ints, not floats equal to them


@pytest.mark.parametrize("raw", [b"NaN", b'["\\ud800"]', b"1e400", b'{"a": Infinity}'])
def test_what_orjson_refuses_the_standard_library_decides(raw: bytes) -> None:
    assert repr(json_bytes.loads(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xef\xbb\xbf{}", ValueError),  # a byte-order mark, refused as before
        (b'{"a": "\xff"}', UnicodeDecodeError),  # not UTF-8
        (b'{"a": 1,}', ValueError),
        (b"", ValueError),
    ],
)
def test_bad_bodies_raise_what_the_standard_library_raises(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        json.loads(raw.decode("utf-8"))
    with pytest.raises(error):
        json_bytes.loads(raw)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_document_parses_as_the_standard_library_parses_it(value: object) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8")
    assert repr(json_bytes.loads(raw)) == repr(json.loads(raw.decode("utf-8")))
