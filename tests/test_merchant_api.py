"""The merchant's JSON API under /app/api, on the real app, with real ID tokens and stand-ins.

Settings (GET never shows a secret; PUT checks every field; secrets kept; 409 for the operator's
shops), the connection test against the platforms, overview, the order list (status, search,
keyset paging), one order, retry, import and jobs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.app import create_app
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs, get_db, location_of
from connector.worker.loop import Worker
from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import ORDER_ID, database_bytes, documented_fulfillment, webhook_headers
from tests.tenancy_env import (
    ESHOP_A,
    FOX_A,
    OPERATOR_ESHOP,
    PL_C,
    SHOP_A,
    SHOP_B,
    SHOP_C,
    add_merchant_accounts,
    install,
    order_for,
    tenancy_settings,
)

pytestmark = pytest.mark.both_engines  # the tenancy SQL runs on PostgreSQL too


@pytest.fixture
def fox() -> Iterator[FoxdeliStandIn]:
    with FoxdeliStandIn(eshop_id=OPERATOR_ESHOP) as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def pl() -> Iterator[ParcellabStandIn]:
    with ParcellabStandIn(token="pl-operator-token-0000") as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def admin() -> Iterator[ShopifyAdminStandIn]:
    with ShopifyAdminStandIn(orders=12, restore_rate=4000) as standin:
        yield standin  # type: ignore[misc]


class Env:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.app = create_app(settings=settings)
        self.client = self.app.test_client()
        self.db = get_db(location_of(settings))
        install(settings, self.db, SHOP_A, SHOP_B, SHOP_C)

    def api(self, method: str, path: str, shop: str = SHOP_A, body: Any = None, token: str | None = None):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token or mint_id_token(shop)}"}
        data = None if body is None else json.dumps(body)
        return self.client.open(f"/app/api{path}", method=method, headers=headers, data=data,
                                content_type="application/json")

    def post(self, shop: str, body: bytes, topic: str = "orders/create") -> None:
        response = self.client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, topic, shop=shop, secret=API_SECRET))
        assert response.status_code == 200

    def work(self):  # type: ignore[no-untyped-def]
        return Worker(self.settings).run(once=True)


@pytest.fixture
def make(tmp_path, db_path, fox, pl):  # type: ignore[no-untyped-def]
    add_merchant_accounts(fox, pl)

    def _make(shops_toml: str = "", **values: Any) -> Env:
        return Env(tenancy_settings(tmp_path, fox, pl, shops_toml, store=db_path, **{
            "shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET, **values}))

    yield _make
    close_thread_dbs()


@pytest.fixture
def env(make) -> Env:  # type: ignore[no-untyped-def]
    return make()


def connect_foxdeli(env: Env, shop: str = SHOP_A, **changes: str) -> Any:
    response = env.api("PUT", "/settings", shop, {"target": {"kind": "foxdeli", **FOX_A, **changes}})
    assert response.status_code == 200, response.json
    return response.json


# -- settings -------------------------------------------------------------------------------------
def test_a_new_shop_has_no_account_and_default_options(env):
    body = env.api("GET", "/settings").json
    assert body["target"] == {"kind": None}
    assert body["managed_by"] == "merchant" and body["account"]["connected"] is False
    assert body["options"] == {"paused": False, "skip_tags": [], "skip_unpaid": False, "skip_test_orders": False,
                               "order_number": "name", "carriers": {}}


def test_saved_settings_never_show_a_secret_and_keep_it_when_left_out(env):
    saved = connect_foxdeli(env)
    assert saved["target"] == {"kind": "foxdeli", "username": FOX_A["username"], "eshop_id": ESHOP_A, "password_set": True}
    assert FOX_A["password"] not in json.dumps(saved)
    again = env.api("PUT", "/settings", body={"target": {"kind": "foxdeli", "username": FOX_A["username"], "password": "",
                                                          "eshop_id": ESHOP_A}, "options": {"skip_tags": ["b2b"]}})
    assert again.status_code == 200 and again.json["target"]["password_set"] is True
    assert again.json["options"]["skip_tags"] == ["b2b"]
    assert env.api("POST", "/settings/test").json["ok"] is True  # the kept password still logs in
    assert FOX_A["password"].encode() not in database_bytes(env.settings)


# Every secret field of every platform, with the value each test shop stores for it.
STORED_SECRETS = {"foxdeli": {"password": FOX_A["password"]}, "parcellab": {"token": PL_C["token"]}}


def test_every_stored_tracking_secret_is_encrypted_in_the_raw_database(env, fox, pl):
    from connector.accounts.platforms import PLATFORMS

    assert {kind: set(p.secret_names) for kind, p in PLATFORMS.items()} == \
        {kind: set(values) for kind, values in STORED_SECRETS.items()}  # a new secret field is searched for too
    connect_foxdeli(env, SHOP_A, password="First-pa55word!")  # replaced below: it must not linger either
    connect_foxdeli(env, SHOP_A)
    assert env.api("PUT", "/settings", SHOP_C, {"target": {"kind": "parcellab", **PL_C}}).status_code == 200
    assert env.api("POST", "/settings/test", SHOP_B,
                   {"target": {"kind": "foxdeli", **FOX_A, "password": "Tried-0nly-pa55"}}).json["ok"] is False
    for shop, number in ((SHOP_A, 1001), (SHOP_C, 1002)):  # deliveries record payloads and attempts
        env.post(shop, order_for(number))
    assert env.work().delivered == 2
    raw = database_bytes(env.settings)
    for value in ("First-pa55word!", "Tried-0nly-pa55", *(v for values in STORED_SECRETS.values() for v in values.values())):
        assert value.encode() not in raw, value
    for key in env.settings["shopify.token_encryption_key"].split(","):
        assert key.encode() not in raw  # the key stays in the configuration
    assert FOX_A["username"].encode() in raw and PL_C["account"].encode() in raw  # the search can find what is there


@pytest.mark.parametrize("target, field, words", [
    ({"kind": "fedex"}, "target.kind", "foxdeli or parcellab"),
    ({"kind": "foxdeli", **FOX_A, "eshop_id": "not-a-uuid"}, "target.eshop_id", "UUID"),
    ({"kind": "foxdeli", "username": FOX_A["username"], "eshop_id": ESHOP_A}, "target.password", "required"),
    ({"kind": "foxdeli", **FOX_A, "base_url": "https://evil.example"}, "target.base_url", "operator"),
    ({"kind": "foxdeli", **FOX_A, "username": "two words"}, "target.username", "space"),
    ({"kind": "parcellab", **PL_C, "account": "16x"}, "target.account", "digits"),
    ({"kind": "parcellab", **PL_C, "token": "a\nb"}, "target.token", ""),
])
def test_every_account_field_is_checked_and_says_what_to_fix(env, target, field, words):
    response = env.api("PUT", "/settings", body={"target": target})
    assert response.status_code == 400
    assert words in response.json["errors"][field]
    assert env.api("GET", "/settings").json["target"] == {"kind": None}  # nothing saved


@pytest.mark.parametrize("options, field", [
    ({"paused": "yes"}, "options.paused"),
    ({"order_number": "#"}, "options.order_number"),
    ({"skip_tags": [1, 2]}, "options.skip_tags"),
    ({"carriers": {"PPL CZ": "not-a-carrier"}}, "options.carriers"),
    ({"colour": "blue"}, "options.colour"),
])
def test_every_option_is_checked(env, options, field):
    connect_foxdeli(env)
    response = env.api("PUT", "/settings", body={"options": options})
    assert response.status_code == 400 and field in response.json["errors"]


def test_a_new_platform_needs_its_secret(env):
    connect_foxdeli(env)
    response = env.api("PUT", "/settings", body={"target": {"kind": "parcellab", "account": PL_C["account"]}})
    assert response.status_code == 400 and "target.token" in response.json["errors"]


def test_the_operators_shop_is_read_only_and_shows_no_operator_secret(make):
    env = make(f'[shops."{SHOP_A}"]\neshop_id = "{ESHOP_A}"\n')
    body = env.api("GET", "/settings").json
    assert body["managed_by"] == "operator" and body["target"]["kind"] == "foxdeli"
    assert body["target"]["eshop_id"] == ESHOP_A and body["target"]["password_set"] is True
    assert env.settings["target.password"] not in json.dumps(body)
    response = env.api("PUT", "/settings", body={"target": {"kind": "foxdeli", **FOX_A}})
    assert response.status_code == 409 and "operator" in response.json["error"]


def test_a_body_that_is_not_json_is_a_clear_400(env):
    response = env.client.put("/app/api/settings", data=b"{oops", headers={"Authorization": f"Bearer {mint_id_token(SHOP_A)}"})
    assert response.status_code == 400 and "body" in response.json["errors"]


# -- connection test ------------------------------------------------------------------------------
def test_the_connection_test_gives_the_platforms_own_reason(env, fox):
    ok = env.api("POST", "/settings/test", body={"target": {"kind": "foxdeli", **FOX_A}}).json
    assert ok["ok"] is True
    wrong = env.api("POST", "/settings/test", body={"target": {"kind": "foxdeli", **FOX_A, "password": "Wrong-pa55"}}).json
    assert wrong["ok"] is False and "Bad credentials" in wrong["message"] and "Wrong-pa55" not in wrong["message"]
    other = env.api("POST", "/settings/test", body={"target": {"kind": "foxdeli", **FOX_A, "eshop_id": OPERATOR_ESHOP}}).json
    assert other["ok"] is False and "Eshop was not found for this API key" in other["message"]
    assert not [r for r in fox.requests if r.method in ("POST", "PATCH", "PUT") and "/order" in r.path]  # wrote nothing


def test_the_parcellab_connection_test_is_a_read(env, pl):
    wrong = env.api("POST", "/settings/test", body={"target": {"kind": "parcellab", **PL_C, "token": "nope-nope"}}).json
    assert wrong["ok"] is False and "Invalid or missing token" in wrong["message"]
    assert env.api("POST", "/settings/test", body={"target": {"kind": "parcellab", **PL_C}}).json["ok"] is True
    assert {r.method for r in pl.requests} == {"GET"} and pl.orders == {}


def test_testing_the_stored_account_records_its_state_and_a_fix_releases_the_shop(env):
    connect_foxdeli(env, password="Wrong-pa55word")
    env.post(SHOP_A, order_for(1001))
    env.work()
    overview = env.api("GET", "/overview").json
    assert overview["credentials_ok"] is False and "Bad credentials" in overview["account_error"]
    assert overview["counts"]["held"] == 1
    connect_foxdeli(env)  # fixed
    assert env.api("POST", "/settings/test").json["ok"] is True
    assert env.api("GET", "/overview").json["credentials_ok"] is True
    assert env.work().delivered == 1


# -- overview and orders --------------------------------------------------------------------------
def test_the_overview_counts_the_shops_orders_only(env):
    connect_foxdeli(env)
    for n in (1001, 1002):
        env.post(SHOP_A, order_for(n, id=int(ORDER_ID) + n))
    env.post(SHOP_B, order_for(2001))
    env.work()
    body = env.api("GET", "/overview?tz=Europe/Prague").json
    assert body["connected"] is True and body["counts"]["synced"] == 2 and body["counts"]["held"] == 0
    assert body["synced_today"] == 2 and body["synced_week"] == 2
    assert body["last_delivery"]["name"] in ("#1001", "#1002")
    b = env.api("GET", "/overview", SHOP_B).json
    assert b["connected"] is False and b["counts"]["held"] == 1 and b["oldest_waiting"]["at"]
    assert env.api("GET", "/overview?tz=Mars/Olympus").status_code == 400


def test_orders_filter_by_state_and_search_by_name(env):
    connect_foxdeli(env, password="Wrong-pa55word")
    env.post(SHOP_A, order_for(1001, id=int(ORDER_ID) + 1))
    env.work()
    connect_foxdeli(env)
    env.post(SHOP_A, order_for(1002, id=int(ORDER_ID) + 2))
    env.work()

    def names(q: str) -> list[str]:
        return [o["name"] for o in env.api("GET", f"/orders?{q}").json["orders"]]

    assert names("") == ["#1002", "#1001"] or names("") == ["#1001", "#1002"]
    assert names("status=synced") and set(names("status=synced")) == {"#1001", "#1002"}
    assert names("q=%231002") == ["#1002"] and names("q=1001") == ["#1001"]
    assert names("status=failed") == []
    assert env.api("GET", "/orders?status=exploded").status_code == 400
    assert env.api("GET", "/orders?cursor=garbage").status_code == 400


def test_keyset_paging_returns_every_order_once(env):
    connect_foxdeli(env)
    for n in range(1, 126):
        env.post(SHOP_A, order_for(n, id=int(ORDER_ID) + n, created_at=f"2026-11-{n % 28 + 1:02d}T10:00:00Z"))
    Worker(env.settings).run(once=True)
    seen, cursor, pages = [], None, 0
    while True:
        page = env.api("GET", "/orders?limit=50" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [o["order_id"] for o in page["orders"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == 125 == len(set(seen))


def test_one_order_shows_its_events_attempts_and_what_was_sent(env):
    connect_foxdeli(env)
    env.post(SHOP_A, order_for(1001))
    env.post(SHOP_A, json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    env.work()
    detail = env.api("GET", f"/orders/{ORDER_ID}").json
    assert detail["name"] == "#1001" and detail["status"] == "synced"
    assert [e["topic"] for e in detail["events"]] == ["fulfillments/create", "orders/create"]
    assert {a["what"].split(":")[0] for a in detail["attempts"]} == {"order", "fulfillment"}
    assert detail["payload"]["eshopId"] == ESHOP_A and detail["payload"]["orderNumber"] == "#1001"
    assert FOX_A["password"] not in json.dumps(detail)
    assert env.api("GET", "/orders/999").status_code == 404


def test_retrying_a_failed_order_and_all_of_them(env, fox):
    connect_foxdeli(env)
    env.post(SHOP_A, order_for(1001))
    fox.fail_next(1)  # login refused by a 500...
    fox.fail_next(1, status=400, body={"type": "about:blank", "title": "Bad Request", "status": 400,
                                       "detail": "Input data validation error", "violations": {"x": "y"}})
    env.work()
    assert env.api("GET", "/orders?status=failed").json["orders"][0]["last_error"].startswith("create order: HTTP 400")
    assert env.api("POST", f"/orders/{ORDER_ID}/retry").json == {"retried": 1, "order_id": ORDER_ID}
    assert env.work().delivered == 1
    assert env.api("POST", f"/orders/{ORDER_ID}/retry").status_code == 409  # synced: nothing to retry
    assert env.api("POST", "/retry").json["retried"] == 0


# -- import and jobs ------------------------------------------------------------------------------
def test_import_sends_the_last_days_through_the_pipeline_silently(make, admin):
    env = make(f'[shops."{SHOP_C}"]\naccess_token = "{admin.token}"\nadmin_url = "{admin.url}"\n')
    assert env.api("PUT", "/settings", SHOP_C, {"target": {"kind": "parcellab", **PL_C}}).status_code == 200
    assert env.api("POST", "/import", SHOP_C, {"days": 61}).status_code == 400  # no read_all_orders
    assert env.api("POST", "/import", SHOP_C, {"days": "30"}).status_code == 400
    started = env.api("POST", "/import", SHOP_C, {"days": 30})
    assert started.status_code == 202
    job_id = started.json["job_id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and env.api("GET", f"/jobs/{job_id}", SHOP_C).json["status"] != "done":
        time.sleep(0.1)
    job = env.api("GET", f"/jobs/{job_id}", SHOP_C).json
    assert job["status"] == "done" and job["progress"]["queued"] == 12 and job["request"]["silent"] is True
    assert env.work().delivered == 12
    assert env.api("GET", f"/jobs/{job_id}", SHOP_A).status_code == 404  # another shop's job is not there


def test_an_import_beyond_60_days_needs_read_all_orders(make, admin):
    from connector.store.shops import set_scopes

    env = make(f'[shops."{SHOP_C}"]\naccess_token = "{admin.token}"\nadmin_url = "{admin.url}"\n')
    assert env.api("PUT", "/settings", SHOP_C, {"target": {"kind": "parcellab", **PL_C}}).status_code == 200
    refused = env.api("POST", "/import", SHOP_C, {"days": 90})
    assert refused.status_code == 400 and "read_all_orders" in refused.json["errors"]["days"]
    set_scopes(env.db, SHOP_C, "read_orders,read_fulfillments,read_all_orders")  # the merchant granted it
    started = env.api("POST", "/import", SHOP_C, {"days": 90})
    assert started.status_code == 202
    since = env.api("GET", f"/jobs/{started.json['job_id']}", SHOP_C).json["request"]["since"]
    assert 89 * 86400 < time.time() - _epoch(since) < 91 * 86400


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_an_import_for_a_foxdeli_shop_says_at_once_that_it_cannot_be_silent(make, admin):
    env = make(f'[shops."{SHOP_A}"]\naccess_token = "{admin.token}"\nadmin_url = "{admin.url}"\n')
    connect_foxdeli(env)
    started = env.api("POST", "/import", SHOP_A, {"days": 30})
    assert started.status_code == 202
    notes = [n for n in started.json["notes"] if "silent" in n]
    assert len(notes) == 1 and "cannot be honoured by Foxdeli" in notes[0]
