"""Shop B's valid ID token can neither read nor change shop A's data through any /app/api route.

The test walks the app's URL map, so a new /app/api route without a case here fails it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector.app import create_app
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.store import jobs as job_store
from connector.store.db import close_thread_dbs, get_db, location_of
from connector.worker.loop import Worker
from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import ORDER_ID, webhook_headers
from tests.tenancy_env import (
    FOX_A,
    OPERATOR_ESHOP,
    SHOP_A,
    SHOP_B,
    add_merchant_accounts,
    install,
    order_for,
    tenancy_settings,
)

pytestmark = pytest.mark.both_engines  # the tenancy SQL runs on PostgreSQL too

A_NAME = "#7001"


@pytest.fixture
def world(tmp_path, db_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with FoxdeliStandIn(eshop_id=OPERATOR_ESHOP) as fox, ParcellabStandIn() as pl:
        add_merchant_accounts(fox, pl)
        settings = tenancy_settings(tmp_path, fox, pl, store=db_path, **{"shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET})
        app = create_app(settings=settings)
        client = app.test_client()
        db = get_db(location_of(settings))
        install(settings, db, SHOP_A, SHOP_B)
        auth_a = {"Authorization": f"Bearer {mint_id_token(SHOP_A)}"}
        assert client.put("/app/api/settings", json={"target": {"kind": "foxdeli", **FOX_A}}, headers=auth_a).status_code == 200
        body = order_for(7001)
        client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, shop=SHOP_A, secret=API_SECRET))
        fox.fail_next(1, status=400, body={"title": "Bad Request", "status": 400, "violations": {"x": "y"}})
        Worker(settings).run(once=True)  # A's order is dead-lettered: a failure B must not replay
        job_id = job_store.create_job(db, "resync", SHOP_A, {"order_ids": [ORDER_ID], "since": None, "until": None,
                                                             "silent": True}, "nobody", 0.0, [], "merchant")
        yield {"app": app, "client": client, "db": db, "job_id": job_id, "auth_a": auth_a}
        close_thread_dbs()


def a_state(world: dict[str, Any]) -> Any:
    """Everything of shop A that B could try to change."""
    db = world["db"]
    return (
        db.execute("SELECT kind, fields, secrets, options FROM shop_settings WHERE shop = ?", [SHOP_A]).fetchall(),
        db.execute("SELECT order_id, status, next_attempt_at FROM orders WHERE shop = ?", [SHOP_A]).fetchall(),
        db.execute("SELECT id, replayed_at FROM failures WHERE shop = ?", [SHOP_A]).fetchall(),
        db.execute("SELECT id, status FROM jobs WHERE shop = ?", [SHOP_A]).fetchall(),
    )


Case = Callable[[Any, dict[str, str], dict[str, Any]], Any]
CASES: dict[tuple[str, str], Case] = {
    ("GET", "/app/api/session"): lambda c, h, w: c.get("/app/api/session", headers=h),
    ("GET", "/app/api/settings"): lambda c, h, w: c.get("/app/api/settings", headers=h),
    ("PUT", "/app/api/settings"): lambda c, h, w: c.put(
        "/app/api/settings", headers=h, json={"target": {"kind": "foxdeli", "username": "b@b.example", "password": "Bb-pa55word",
                                                       "eshop_id": "cccccccc-3333-4333-8333-cccccccccccc"}}),
    ("POST", "/app/api/settings/test"): lambda c, h, w: c.post("/app/api/settings/test", headers=h, json={}),
    ("GET", "/app/api/overview"): lambda c, h, w: c.get("/app/api/overview", headers=h),
    ("GET", "/app/api/orders"): lambda c, h, w: c.get(f"/app/api/orders?q={A_NAME.replace('#', '%23')}", headers=h),
    ("GET", "/app/api/orders/<order_id>"): lambda c, h, w: c.get(f"/app/api/orders/{ORDER_ID}", headers=h),
    ("POST", "/app/api/orders/<order_id>/retry"): lambda c, h, w: c.post(f"/app/api/orders/{ORDER_ID}/retry", headers=h),
    ("POST", "/app/api/retry"): lambda c, h, w: c.post("/app/api/retry", headers=h, json={}),
    ("POST", "/app/api/import"): lambda c, h, w: c.post("/app/api/import", headers=h, json={"days": 7}),
    ("GET", "/app/api/jobs/<job_id>"): lambda c, h, w: c.get(f"/app/api/jobs/{w['job_id']}", headers=h),
}


def test_every_merchant_route_has_a_scoping_case(world):
    routes = {(method, rule.rule) for rule in world["app"].url_map.iter_rules() if rule.rule.startswith("/app/api")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(CASES)


@pytest.mark.parametrize("route", sorted(CASES))
def test_shop_b_never_reads_or_changes_shop_a(world, route):
    before = a_state(world)
    response = CASES[route](world["client"], {"Authorization": f"Bearer {mint_id_token(SHOP_B)}"}, world)
    assert response.status_code < 500, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    for secret_of_a in (SHOP_A, ORDER_ID, A_NAME, FOX_A["username"], FOX_A["password"], world["job_id"]):
        assert secret_of_a not in text, (route, secret_of_a, text)
    assert a_state(world) == before


def test_an_id_token_opens_no_door_to_the_operator_api(world):
    for token_shop in (SHOP_A, SHOP_B):
        headers = {"Authorization": f"Bearer {mint_id_token(token_shop)}"}
        for path in ("/admin/orders", f"/admin/orders/{SHOP_A}/{ORDER_ID}", "/admin/failures", f"/admin/jobs/{world['job_id']}"):
            assert world["client"].get(path, headers=headers).status_code == 401
        assert world["client"].post("/admin/replay", headers=headers, json={"shop": SHOP_A}).status_code == 401


def test_shop_a_still_sees_its_own(world):
    orders = world["client"].get("/app/api/orders", headers=world["auth_a"]).json["orders"]
    assert [(o["name"], o["status"]) for o in orders] == [(A_NAME, "failed")]
    assert json.loads(world["client"].get(f"/app/api/jobs/{world['job_id']}", headers=world["auth_a"]).data)["shop"] == SHOP_A
