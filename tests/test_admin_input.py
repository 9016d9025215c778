"""Malformed operator input answers 400 with the reason, never 500; Unicode digits are not ids.

Found by an attack run: ``limit=²`` (``"²".isdigit()`` is true, ``int("²")`` raises), a failure
id beyond SQLite's 64-bit rowids, a deeply nested JSON body and a window of 10**400 days all
answered 500; ``limit=١٢٣`` and ``window=٧٢h`` were read as 123 and 72 h.
"""

from __future__ import annotations

import json
import time

import pytest

from connector.shopify.verify import is_fresh_timestamp
from connector.worker.routing import route_event
from tests.conftest import SHOP

AUTH = {"Authorization": "Bearer admin-token"}


@pytest.mark.parametrize("path", [
    "/admin/orders?limit=²", "/admin/orders?limit=١٢٣", "/admin/orders?limit=" + "9" * 400, "/admin/orders?limit=1.5",
    "/admin/jobs?limit=²", "/admin/failures?limit=٣", "/admin/orders?shop=not-a-shop",
    f"/admin/orders/{SHOP}/²³", f"/admin/orders/{SHOP}/١٢٣", f"/admin/orders/{SHOP}/abc", "/admin/orders/evil.com/123",
])
def test_malformed_query_or_path_answers_400_with_the_reason(client, path):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 400, (path, response.status_code, response.get_data(as_text=True)[:200])
    assert response.json["error"]


@pytest.mark.parametrize("path, body", [
    ("/admin/resync", b"[" * 100_000),
    ("/admin/replay", b'{"shop":' * 10_000),
    ("/admin/reconcile", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("/admin/reconcile", json.dumps({"shop": SHOP, "window": "9" * 400 + "d"}).encode()),
    ("/admin/reconcile", json.dumps({"shop": SHOP, "window": "99999999d"}).encode()),
    ("/admin/reconcile", json.dumps({"shop": SHOP, "window": "٧٢h"}).encode()),
    ("/admin/reconcile", json.dumps({"shop": SHOP, "window": 1e400}).replace("Infinity", "1e400").encode()),
    ("/admin/resync", json.dumps({"shop": SHOP, "order_ids": ["²³"]}).encode()),
    ("/admin/resync", json.dumps({"shop": SHOP, "order_ids": ["١٢٣"]}).encode()),
    ("/admin/resync", json.dumps({"shop": SHOP, "order_ids": ["9" * 5000]}).encode()),
    ("/admin/resync", json.dumps({"shop": SHOP, "order_ids": [str(2**64)]}).encode()),
    ("/admin/failures/99999999999999999999/replay", None),
    ("/admin/failures/" + "9" * 40 + "/replay", None),
])
def test_malformed_body_or_id_answers_400_with_the_reason(client, path, body):
    response = client.post(path, headers=AUTH, data=body)
    assert response.status_code == 400, (path, response.status_code, response.get_data(as_text=True)[:200])
    assert response.json["error"]


def test_ascii_ids_and_windows_still_work(client):
    assert client.get("/admin/orders?limit=5", headers=AUTH).status_code == 200
    assert client.get(f"/admin/orders/{SHOP}/123", headers=AUTH).status_code == 404  # well-formed, unknown
    assert client.post("/admin/failures/9223372036854775807/replay", headers=AUTH).status_code == 404


@pytest.mark.parametrize("value", ["²³", "١٢٣", "٣", "１２３", "1²", "⑫"])
def test_unicode_digits_are_never_shopify_ids_in_webhook_bodies(value):
    for topic, body in (
        ("orders/create", {"id": value, "line_items": []}),
        ("orders/delete", {"id": value}),
        ("fulfillments/create", {"id": 5, "order_id": value, "status": "success"}),
        ("refunds/create", {"id": value, "order_id": 7, "refund_line_items": []}),
    ):
        route = route_event(topic, json.dumps(body).encode(), "2026-01-01T00:00:00.000000Z")
        assert route.action == "invalid", (topic, route)


def test_unicode_digits_in_an_oauth_timestamp_are_refused_not_a_crash():
    now = time.time()
    assert not is_fresh_timestamp("²", now) and not is_fresh_timestamp("١٧٠٠٠٠٠٠٠٠", now)
    assert is_fresh_timestamp(str(int(now)), now)
