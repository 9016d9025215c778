"""Tenancy in the worker: every shop's orders reach its own account, or wait for one.

Real Flask app, real SQLite file, real worker, the Foxdeli and parcelLab stand-ins over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.app import create_app
from connector.config import Settings
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.store.db import close_thread_dbs, get_db, location_of
from connector.timeutil import now_db
from connector.worker.loop import Worker
from tests.support import ORDER_ID, database_bytes, documented_fulfillment, webhook_headers
from tests.tenancy_env import (
    ESHOP_A,
    ESHOP_B,
    FOX_A,
    FOX_B,
    OPERATOR_ESHOP,
    PL_C,
    SHOP_A,
    SHOP_B,
    SHOP_C,
    add_merchant_accounts,
    connect_account,
    install,
    order_for,
    tenancy_settings,
)

pytestmark = pytest.mark.both_engines  # the tenancy SQL runs on PostgreSQL too


@pytest.fixture
def fox() -> Iterator[FoxdeliStandIn]:
    with FoxdeliStandIn(eshop_id=OPERATOR_ESHOP) as standin:
        yield standin  # type: ignore[misc]
        assert standin.invalid_requests == [], standin.invalid_requests


@pytest.fixture
def pl() -> Iterator[ParcellabStandIn]:
    with ParcellabStandIn(token="pl-operator-token-0000") as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def make(tmp_path, db_path, fox, pl):  # type: ignore[no-untyped-def]
    """make(shops_toml="", **overrides) → (settings, db, post) with shops A, B, C installed."""
    add_merchant_accounts(fox, pl)

    def _make(shops_toml: str = "", **values: Any):  # type: ignore[no-untyped-def]
        settings = tenancy_settings(tmp_path, fox, pl, shops_toml, store=db_path, **values)
        client = create_app(settings=settings).test_client()
        db = get_db(location_of(settings))
        install(settings, db, SHOP_A, SHOP_B, SHOP_C)

        def post(shop: str, body: bytes, topic: str = "orders/create", **extra: str):  # type: ignore[no-untyped-def]
            headers = {**webhook_headers(body, topic, shop=shop), **extra}
            response = client.post("/webhooks/shopify", data=body, headers=headers)
            assert response.status_code == 200
            return response

        return settings, db, post

    yield _make
    close_thread_dbs()


def run(settings: Settings, **changes: Any):  # type: ignore[no-untyped-def]
    return Worker(Settings({**settings.values, **changes}, settings.shops, settings.source)).run(once=True)


def status_of(db: Any, shop: str) -> str | None:
    row = db.execute("SELECT status FROM orders WHERE shop = ?", [shop]).fetchone()
    return row[0] if row else None


def test_each_shop_delivers_only_to_its_own_account(make, fox, pl):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    connect_account(db, settings, SHOP_B, "foxdeli", **FOX_B)
    connect_account(db, settings, SHOP_C, "parcellab", **PL_C)
    for number, shop in enumerate((SHOP_A, SHOP_B, SHOP_C), start=1001):
        post(shop, order_for(number))
    assert run(settings).delivered == 3
    assert [o["orderNumber"] for o in fox.orders_of(ESHOP_A)] == ["#1001"]
    assert [o["orderNumber"] for o in fox.orders_of(ESHOP_B)] == ["#1002"]
    assert fox.orders_of(OPERATOR_ESHOP) == []  # the operator's global account got nothing
    assert [o["order_number"] for o in pl.orders_of(int(PL_C["account"]))] == ["#1003"]
    assert pl.orders_of(0) == [] and len(pl.orders) == 1


def test_a_shop_without_an_account_keeps_its_events_and_delivers_them_once_connected(make, fox):
    settings, db, post = make()
    post(SHOP_A, order_for(1001))
    post(SHOP_A, json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    stats = run(settings)
    assert stats.delivered == 0 and fox.requests == []  # nothing anywhere, not even the global account
    assert status_of(db, SHOP_A) == "held"
    assert [r[0] for r in db.execute("SELECT state FROM events ORDER BY id")] == ["queued", "queued"]  # kept
    assert run(settings).delivered == 0  # still nothing while there is no account
    from connector.store.events import oldest_open_event_age_s

    assert oldest_open_event_age_s(db) is None  # waiting for an account is not a stuck delivery
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    assert run(settings).delivered == 1
    [order] = fox.orders_of(ESHOP_A)
    assert order["orderNumber"] == "#1001" and len(order["parcels"]) == 1
    assert [r[0] for r in db.execute("SELECT state FROM events ORDER BY id")] == ["delivered", "delivered"]


def test_the_global_account_serves_every_shop_only_with_the_switch(make, fox):
    settings, db, post = make(**{"target.all_shops": True})
    connect_account(db, settings, SHOP_B, "foxdeli", **FOX_B)  # a merchant's own account still wins
    post(SHOP_A, order_for(1001))
    post(SHOP_B, order_for(1002))
    assert run(settings).delivered == 2
    assert [o["orderNumber"] for o in fox.orders_of(OPERATOR_ESHOP)] == ["#1001"]
    assert [o["orderNumber"] for o in fox.orders_of(ESHOP_B)] == ["#1002"]


def test_an_operator_entry_wins_over_the_merchants_account(make, fox):
    settings, db, post = make(f'[shops."{SHOP_A}"]\neshop_id = "{ESHOP_B}"\nusername = "{FOX_B["username"]}"\n'
                              f'password = "{FOX_B["password"]}"\n')
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    post(SHOP_A, order_for(1001))
    assert run(settings).delivered == 1
    assert fox.orders_of(ESHOP_A) == [] and len(fox.orders_of(ESHOP_B)) == 1


def test_an_entry_with_only_admin_access_assigns_no_account(make, fox):
    settings, db, post = make(f'[shops."{SHOP_A}"]\naccess_token = "shpat_legacy"\n')
    post(SHOP_A, order_for(1001))
    assert run(settings).delivered == 0 and fox.requests == []
    assert status_of(db, SHOP_A) == "held"


def test_refused_credentials_hold_that_shop_only_until_they_are_fixed(make, fox):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", **{**FOX_A, "password": "wrong-Pa55word"})
    connect_account(db, settings, SHOP_B, "foxdeli", **FOX_B)
    for number in (1001, 1002, 1003):
        post(SHOP_A, order_for(number, id=int(ORDER_ID) + number))
    post(SHOP_B, order_for(2001))
    stats = run(settings, **{"worker.concurrency": 1})
    assert stats.dead == 0 and stats.delivered == 1  # B flows; A's first refusal holds all of A
    assert len(fox.orders_of(ESHOP_B)) == 1 and fox.orders_of(ESHOP_A) == []
    logins = fox.auth_count
    assert {r[0] for r in db.execute("SELECT status FROM orders WHERE shop = ?", [SHOP_A])} == {"held"}
    (ok, message) = db.execute("SELECT check_ok, check_message FROM shop_settings WHERE shop = ?", [SHOP_A]).fetchone()
    assert ok == 0 and "Bad credentials" in message and "wrong-Pa55word" not in message
    assert db.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    worker = Worker(settings)
    worker.profiles.restart = lambda: None  # a running worker, not a fresh start
    assert worker.run(once=True).delivered == 0 and fox.auth_count == logins  # not hammered
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)  # the merchant fixes the password
    assert run(settings).delivered == 3
    assert sorted(o["orderNumber"] for o in fox.orders_of(ESHOP_A)) == ["#1001", "#1002", "#1003"]


# Seconds of waiting for a recheck time: on SQLite only (the recheck's SQL runs on PostgreSQL in
# the hold and claim tests above).
@pytest.mark.one_engine("sqlite")
def test_a_failing_account_is_tried_again_after_the_recheck_time(make, fox):
    settings, db, post = make(**{"worker.account_recheck_s": 0.3})
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    post(SHOP_A, order_for(1001))
    fox.reject_all_tokens = True  # the platform suspends the account for a while
    worker_settings = Settings({**settings.values}, settings.shops, settings.source)
    worker = Worker(worker_settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and db.execute("SELECT check_ok FROM shop_settings").fetchone()[0] != 0:
            time.sleep(0.05)
        assert status_of(db, SHOP_A) == "held"
        fox.reject_all_tokens = False  # ... and lifts it: no one touched the settings
        while time.monotonic() < deadline and not fox.orders_of(ESHOP_A):
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)
    assert len(fox.orders_of(ESHOP_A)) == 1
    assert db.execute("SELECT check_ok FROM shop_settings").fetchone()[0] == 1


def test_a_running_worker_sees_a_new_account_within_a_poll_interval(make, fox):
    settings, db, post = make()
    post(SHOP_A, order_for(1001))
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and status_of(db, SHOP_A) != "held":
            time.sleep(0.02)
        connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
        connected = time.monotonic()
        while time.monotonic() < deadline and not fox.orders_of(ESHOP_A):
            time.sleep(0.02)
        waited = time.monotonic() - connected
    finally:
        worker.stop()
        thread.join(10)
    assert len(fox.orders_of(ESHOP_A)) == 1
    assert waited < 2.0  # a couple of poll intervals (0.05 s) on a busy machine, never a restart


def test_paused_shops_wait_and_resume(make, fox):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", options={"paused": True}, **FOX_A)
    post(SHOP_A, order_for(1001))
    assert run(settings).delivered == 0 and status_of(db, SHOP_A) == "held"
    connect_account(db, settings, SHOP_A, "foxdeli", options={"paused": False}, **FOX_A)
    assert run(settings).delivered == 1 and len(fox.orders_of(ESHOP_A)) == 1


@pytest.mark.parametrize("options, changes, reason", [
    ({"skip_tags": ["Wholesale"]}, {"tags": "vip, wholesale"}, "tagged Wholesale"),
    ({"skip_unpaid": True}, {"financial_status": "pending"}, "not paid yet"),
    ({"skip_test_orders": True}, {"test": True}, "test order"),
])
def test_options_leave_orders_out(make, fox, options, changes, reason):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", options=options, **FOX_A)
    post(SHOP_A, order_for(1001, **changes))
    assert run(settings).skipped == 1 and fox.orders_of(ESHOP_A) == []
    (status, why) = db.execute("SELECT status, last_error FROM orders").fetchone()
    assert status == "skipped" and reason in why
    # Without the option the same order goes out.
    connect_account(db, settings, SHOP_A, "foxdeli", options={}, **FOX_A)
    assert run(settings).delivered == 1 and len(fox.orders_of(ESHOP_A)) == 1


def test_an_unpaid_order_is_sent_with_its_parcel_once_paid(make, fox):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", options={"skip_unpaid": True}, **FOX_A)
    post(SHOP_A, order_for(1001, financial_status="pending", updated_at="2026-11-01T10:00:00Z"))
    post(SHOP_A, json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    assert run(settings).skipped == 1 and fox.requests == []
    post(SHOP_A, order_for(1001, financial_status="paid", updated_at="2026-11-02T10:00:00Z"), "orders/paid")
    assert run(settings).delivered == 1
    [order] = fox.orders_of(ESHOP_A)
    assert len(order["parcels"]) == 1  # the fulfillment that arrived while it was unpaid


def sent_numbers(fox: FoxdeliStandIn, pl: ParcellabStandIn, kind: str) -> list[str]:
    if kind == "foxdeli":
        return [o["orderNumber"] for o in fox.orders_of(ESHOP_A)]
    return [o["order_number"] for o in pl.orders_of(int(PL_C["account"]))]


@pytest.mark.parametrize("kind", ["foxdeli", "parcellab"])
@pytest.mark.parametrize("options, sent", [
    ({}, "EU-1001"),  # the default: as Shopify shows it, with the store's own prefix
    ({"order_number": "name"}, "EU-1001"),
    ({"order_number": "number"}, "1001"),  # the bare number
])
def test_the_order_number_option_reaches_the_platform(make, fox, pl, kind, options, sent):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, kind, options=options, **(FOX_A if kind == "foxdeli" else PL_C))
    post(SHOP_A, order_for(1001, name="EU-1001"))  # a store whose order names are EU-1001, EU-1002, ...
    assert run(settings).delivered == 1
    assert sent_numbers(fox, pl, kind) == [sent]


def sent_couriers(fox: FoxdeliStandIn, pl: ParcellabStandIn, kind: str) -> set[str]:
    if kind == "foxdeli":
        return {t["carrier"] for p in fox.orders_of(ESHOP_A)[0]["parcels"] for t in p["tracking"]}
    return {courier for courier, _ in pl.trackings}


def ups_fulfillment(**changes: Any) -> bytes:
    return json.dumps(documented_fulfillment(tracking_company="UPS", tracking_number="1Z2345", **changes)).encode()


@pytest.mark.parametrize("kind, override", [("foxdeli", "DPD_CZ"), ("parcellab", "ups-mi")])
def test_a_merchants_courier_code_wins_over_the_built_in_table(make, fox, pl, kind, override):
    from connector.targets.foxdeli.carriers import map_carrier
    from connector.targets.parcellab.couriers import courier_code

    assert (map_carrier("UPS"), courier_code("UPS", None, {})) == ("UPS", "ups")  # the built-in table
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, kind, options={"carriers": {"UPS": override}},
                    **(FOX_A if kind == "foxdeli" else PL_C))
    post(SHOP_A, order_for(1001))
    post(SHOP_A, ups_fulfillment(), "fulfillments/create")
    assert run(settings).delivered == 1
    assert sent_couriers(fox, pl, kind) == {override}


@pytest.mark.parametrize("kind, operator, merchant", [
    ("foxdeli", {"UPS": "GLS", "Van Co": "PPL"}, {"UPS": "DPD_CZ"}),
    ("parcellab", {"UPS": "gls", "Van Co": "hermes-de"}, {"UPS": "ups-mi"}),
])
def test_courier_tables_stack_built_in_then_the_operators_then_the_merchants(make, fox, pl, kind, operator, merchant):
    values = {"target.carriers": operator}
    if kind == "parcellab":  # the operator's table is for the platform it was written for
        values.update({"target.kind": "parcellab", "target.base_url": pl.url, "target.token": "pl-operator-token-0000"})
    settings, db, post = make(**values)
    connect_account(db, settings, SHOP_A, kind, options={"carriers": merchant}, **(FOX_A if kind == "foxdeli" else PL_C))
    post(SHOP_A, order_for(1001))
    post(SHOP_A, ups_fulfillment(), "fulfillments/create")
    van = documented_fulfillment(id=654321, tracking_company="Van Co", tracking_number="VAN-77",
                                 tracking_numbers=["VAN-77"], tracking_url=None, tracking_urls=[])
    post(SHOP_A, json.dumps(van).encode(), "fulfillments/create")
    assert run(settings).delivered == 1
    assert sent_couriers(fox, pl, kind) == {merchant["UPS"], operator["Van Co"]}


def test_moving_to_another_account_forgets_the_old_accounts_ids(make, fox):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    post(SHOP_A, order_for(1001, updated_at="2026-11-01T10:00:00Z"))
    run(settings)
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_B)  # the merchant moves to another e-shop
    assert db.execute("SELECT remote_id, payload_hash FROM orders").fetchone() == (None, None)
    post(SHOP_A, order_for(1001, updated_at="2026-11-02T10:00:00Z"), "orders/updated")
    assert run(settings).delivered == 1
    assert len(fox.orders_of(ESHOP_A)) == 1 and len(fox.orders_of(ESHOP_B)) == 1  # created anew, not a PATCH of A's


def test_no_tracking_secret_is_ever_stored_in_clear(make):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    connect_account(db, settings, SHOP_C, "parcellab", **PL_C)
    raw = database_bytes(settings)
    for secret in (FOX_A["password"], PL_C["token"]):
        assert secret.encode() not in raw
    assert FOX_A["username"].encode() in raw  # the non-secret fields are plain, as they should be


def uninstalled_body(shop: str) -> bytes:
    """What Shopify sends with app/uninstalled: the Shop resource, naming its own domain."""
    return json.dumps({"id": 1, "domain": shop, "myshopify_domain": shop}).encode()


def test_uninstall_stops_deliveries_keeps_the_settings_and_shop_redact_erases_them(make, fox):
    settings, db, post = make()
    connect_account(db, settings, SHOP_A, "foxdeli", options={"skip_tags": ["b2b"]}, **FOX_A)
    uninstalled_now = {"X-Shopify-Triggered-At": now_db()}  # sent after the install, not a late retry
    post(SHOP_A, uninstalled_body(SHOP_A), "app/uninstalled", **uninstalled_now)
    run(settings)
    post(SHOP_A, order_for(1001))
    assert run(settings).delivered == 0 and fox.requests == []  # uninstalled: nothing goes out
    assert db.execute("SELECT kind FROM shop_settings WHERE shop = ?", [SHOP_A]).fetchone() == ("foxdeli",)
    install(settings, db, SHOP_A)  # a reinstall finds its settings again...
    from connector.lifecycle.install import release_held

    release_held(db, SHOP_A)
    assert run(settings).delivered == 1 and len(fox.orders_of(ESHOP_A)) == 1  # ...and its held order goes out
    post(SHOP_A, uninstalled_body(SHOP_A), "app/uninstalled", **{"X-Shopify-Triggered-At": now_db()})
    post(SHOP_A, json.dumps({"shop_id": 1, "shop_domain": SHOP_A}).encode(), "shop/redact")
    run(settings)
    assert db.execute("SELECT count(*) FROM shop_settings WHERE shop = ?", [SHOP_A]).fetchone() == (0,)
    assert FOX_A["username"].encode() not in database_bytes(settings)


def test_shops_list_shows_whose_account_each_shop_uses(make):
    from click.testing import CliRunner

    from connector.cli import main

    settings, db, post = make(f'[shops."{SHOP_B}"]\neshop_id = "{ESHOP_B}"\n')
    connect_account(db, settings, SHOP_A, "foxdeli", **FOX_A)
    from connector.config import SETTINGS

    env = {s.env_var: str(settings[s.name]).lower() if s.type is bool else str(settings[s.name])
           for s in SETTINGS if s.type is not dict}  # the test's settings, as an operator's environment
    output = CliRunner(env=env).invoke(main, ["shops", "list", "--config", settings.source], catch_exceptions=False).output
    lines = {line.split()[0]: line for line in output.splitlines()[2:]}
    assert "foxdeli (merchant)" in lines[SHOP_A] and "foxdeli (operator)" in lines[SHOP_B]
    assert "none; held: no tracking account connected" in lines[SHOP_C]
    assert FOX_A["password"] not in output
