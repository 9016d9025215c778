"""The Foxdeli client and target against the strict stand-in (real HTTP, no mocks)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector.errors import AccountError, DeliveryError, PermanentDeliveryError, TransientDeliveryError, WaitingError
from connector.sandbox.foxdeli import ESHOP_ID, FoxdeliStandIn
from connector.targets.base import RemoteRef, ShopContext
from connector.targets.foxdeli import FoxdeliTarget
from connector.targets.foxdeli.client import STATUS_OVERRIDES, FoxdeliClient, jwt_expiry
from connector.targets.foxdeli.mapping import map_order
from connector.targets.foxdeli.settings import FoxdeliSettings
from connector.targets.foxdeli.tokens import REFUSED_HOLD_S
from connector.targets.httpclient import classify_status
from tests.golden import load_fixture, order_fixtures

SAMPLE = "orders_create.shopify-docs-sample.exact-ids.json"
FULFILLMENT = "fulfillments_create.shopify-docs-2026-04.json"


@pytest.fixture(scope="module")
def server() -> Iterator[FoxdeliStandIn]:
    # One server for the module: stopping a server costs half a second (serve_forever's poll).
    with FoxdeliStandIn() as standin:
        yield standin


@pytest.fixture
def fox(server: FoxdeliStandIn) -> Iterator[FoxdeliStandIn]:
    server.reset()
    server.allow_invalid = False  # a test that sends a bad body on purpose sets this
    yield server
    assert server.allow_invalid or server.invalid_requests == [], server.invalid_requests


@pytest.fixture
def client(fox: FoxdeliStandIn) -> Iterator[FoxdeliClient]:
    c = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2)
    yield c
    c.close()


@pytest.fixture
def target() -> Iterator[FoxdeliTarget]:
    t = FoxdeliTarget()
    yield t
    t.close()


def ctx_for(fox: FoxdeliStandIn, **extra: Any) -> ShopContext:
    settings = {"base_url": fox.url, "username": fox.username, "password": fox.password,
                "eshop_id": ESHOP_ID, "timeout_s": 2, "carriers": {}, **extra}
    return ShopContext("demo.myshopify.com", FoxdeliSettings.from_target(settings))


def payload(name: str = "orders_cod.json") -> dict[str, Any]:
    return map_order(load_fixture(name), FoxdeliSettings.from_target({"eshop_id": ESHOP_ID}))


def calls(fox: FoxdeliStandIn) -> list[tuple[str, str]]:
    return [(r.method, r.path.replace("/tracking/api/v1", "")) for r in fox.requests]


def assert_secret_free(error: DeliveryError, fox: FoxdeliStandIn) -> None:
    for secret in (fox.password, fox.username, *fox.tokens):
        assert secret not in error.reason and secret not in str(error)


# -- orders -----------------------------------------------------------------------------------------
def test_every_fixture_is_accepted_by_the_strict_standin(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    for name in order_fixtures():
        order = load_fixture(name)
        if name == "orders_create.shopify-test-notification-2017.json":
            order["id"] += 1  # same id as the docs sample: a different order here
        result = target.send_order(target.map_order(order, ctx), RemoteRef(), ctx)
        assert fox.orders[result.remote_id]["externalIdentifier"] == str(order["id"])
    assert len(fox.orders) == len(order_fixtures())
    assert fox.order_by_external("820982911946154508")["orderState"] == "CANCELLED"
    assert fox.auth_count == 1


def test_create_sends_registration_without_private_keys(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    body = payload(SAMPLE)
    order_id = client.upsert_order(body)
    stored = fox.orders[order_id]
    assert stored["externalIdentifier"] == "820982911946154508"
    assert "_cancelled" not in stored and stored["language"] == "en"
    assert fox.requests[1].headers["X-API-Key"] in fox.tokens


def test_conflict_finds_the_order_and_patches_it(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    first = client.upsert_order(payload())
    changed = payload()
    changed["customer"]["phone"] = "+420 777 000 000"
    assert client.upsert_order(changed) == first
    assert calls(fox)[-3:] == [("POST", "/order"), ("GET", "/order"), ("PATCH", f"/order/{first}")]
    patch = fox.requests[-1].json()
    assert "eshopId" not in patch and "language" not in patch
    assert fox.orders[first]["customer"]["phone"] == "+420 777 000 000"


def test_later_changes_patch_the_remembered_id(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    order = load_fixture("orders_cod.json")
    remote = target.send_order(target.map_order(order, ctx), RemoteRef(), ctx).remote_id
    order["line_items"][0]["current_quantity"] = 1
    again = target.send_order(target.map_order(order, ctx), RemoteRef(order_remote_id=remote), ctx)
    assert again.remote_id == remote
    assert calls(fox)[-1] == ("PATCH", f"/order/{remote}")
    assert fox.orders[remote]["products"][0]["quantity"] == 1


def test_a_remembered_id_gone_at_foxdeli_is_created_again(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    order_id = client.upsert_order(payload(), "00000000-0000-0000-0000-000000000000")
    assert order_id in fox.orders
    assert [m for m, _ in calls(fox)[1:]] == ["PATCH", "POST"]


def test_cancellation_and_deletion_cancel_at_foxdeli(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    order = load_fixture("orders_cod.json")
    remote = target.send_order(target.map_order(order, ctx), RemoteRef(), ctx).remote_id
    order["cancelled_at"] = "2024-05-01T10:00:00+02:00"
    result = target.send_order(target.map_order(order, ctx), RemoteRef(order_remote_id=remote), ctx)
    assert result.remote_id == remote and fox.orders[remote]["orderState"] == "CANCELLED"
    other = target.send_order(payload("orders_no_phone.json"), RemoteRef(), ctx).remote_id
    deleted = target.send_order_deleted("5726128734523", RemoteRef(), ctx)  # found by externalId
    assert deleted.remote_id == other and fox.orders[other]["orderState"] == "CANCELLED"
    assert target.send_order_deleted("1", RemoteRef(), ctx).remote_id is None  # never reached Foxdeli


# -- parcels ------------------------------------------------------------------------------------------
def test_fulfillment_creates_then_updates_a_parcel(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    order_id = target.send_order(payload(SAMPLE), RemoteRef(), ctx).remote_id
    fulfillment = load_fixture(FULFILLMENT)
    part = target.map_part("fulfillment", fulfillment, None, ctx)
    parcel_id = target.send_part("fulfillment", part, RemoteRef(order_remote_id=order_id), ctx).remote_id
    parcel = fox.orders[order_id]["parcels"][0]
    assert parcel["id"] == parcel_id and parcel["tracking"] == [{"carrier": "UPS", "number": "1z827wk74630"}]
    fulfillment["tracking_numbers"] = ["1Z999"]
    part = target.map_part("fulfillment", fulfillment, None, ctx)
    ref = RemoteRef(order_remote_id=order_id, part_remote_id=parcel_id)
    assert target.send_part("fulfillment", part, ref, ctx).remote_id == parcel_id
    assert calls(fox)[-1] == ("PATCH", f"/order/{order_id}/parcel/{parcel_id}")
    assert fox.orders[order_id]["parcels"][0]["tracking"][0]["number"] == "1Z999"
    fulfillment["status"] = "cancelled"
    target.send_part("fulfillment", target.map_part("fulfillment", fulfillment, None, ctx), ref, ctx)
    assert fox.orders[order_id]["parcels"] == []


def test_parcel_finds_its_order_by_external_id_or_waits(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    part = target.map_part("fulfillment", load_fixture("fulfillments_create.shopify-fulfillment-integration-2014.json"), None, ctx)
    with pytest.raises(WaitingError):
        target.send_part("fulfillment", part, RemoteRef(), ctx)
    order = payload()
    order["externalIdentifier"] = "450789469"
    order_id = target.send_order(order, RemoteRef(), ctx).remote_id
    parcel_id = target.send_part("fulfillment", part, RemoteRef(), ctx).remote_id
    assert fox.orders[order_id]["parcels"][0]["id"] == parcel_id


def test_refunds_are_not_sent(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    ctx = ctx_for(fox)
    assert target.map_part("refund", load_fixture("refunds_create.shopify-docs-2026-04.json"), None, ctx) is None


# -- authentication -------------------------------------------------------------------------------------
def test_token_is_renewed_before_it_expires() -> None:
    with FoxdeliStandIn(token_lifetime_s=0.6) as fox:
        client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2)
        client.upsert_order(payload())
        time.sleep(0.55)  # renewed at 90 % of the token's life, before Foxdeli would refuse it
        client.upsert_order(payload("orders_no_phone.json"))
        assert fox.auth_count == 2
        assert len(fox.requests) == 4  # auth, create, auth, create: no 401 round trip
        assert fox.invalid_requests == []


def test_without_exp_claim_a_token_lives_ten_minutes() -> None:
    now = [1_000_000.0]
    with FoxdeliStandIn(jwt_exp=False, token_lifetime_s=3600) as fox:
        client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2, clock=lambda: now[0])
        token = client.token()
        assert jwt_expiry(token) is None
        now[0] += 500
        assert client.token() == token
        now[0] += 101
        assert client.token() != token and fox.auth_count == 2


def test_a_401_triggers_exactly_one_new_login(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    client.token()
    fox.revoke_tokens()
    client.upsert_order(payload())
    assert fox.auth_count == 2
    fox.reject_all_tokens = True
    with pytest.raises(AccountError) as caught:
        client.upsert_order(payload("orders_no_phone.json"))
    assert caught.value.status == 401 and fox.auth_count == 3
    assert_secret_free(caught.value, fox)


def test_wrong_credentials_are_the_accounts_fault_and_never_in_the_reason(fox: FoxdeliStandIn) -> None:
    client = FoxdeliClient(fox.url, fox.username, "wrong-password-123", timeout_s=2)
    with pytest.raises(AccountError) as caught:
        client.upsert_order(payload())
    assert caught.value.status == 401 and "wrong-password-123" not in caught.value.reason
    assert_secret_free(caught.value, fox)
    with pytest.raises(AccountError, match="empty"):
        FoxdeliClient(fox.url, "", "", timeout_s=2).token()


def test_target_caches_one_client_per_base_url_and_user(fox: FoxdeliStandIn, target: FoxdeliTarget) -> None:
    assert target.client(ctx_for(fox)) is target.client(ctx_for(fox, eshop_id="other"))
    assert target.client(ctx_for(fox)) is not target.client(ctx_for(fox, username="someone-else"))


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, verdict", [
    (400, "permanent"), (401, "account"), (403, "account"), (404, "permanent"), (409, "permanent"),
    (415, "permanent"), (408, "transient"), (429, "transient"), (500, "transient"), (502, "transient"),
    (503, "transient"), (504, "transient"),
])
def test_status_classification_table(status: int, verdict: str) -> None:
    assert classify_status(status, STATUS_OVERRIDES) == verdict


def test_problem_json_violations_become_the_reason(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    fox.allow_invalid = True
    bad = payload()
    bad["language"] = "bb"
    with pytest.raises(PermanentDeliveryError) as caught:
        client.upsert_order(bad)
    assert caught.value.status == 400
    assert "create order: HTTP 400 | Bad Request" in caught.value.reason and "language: Invalid value: bb" in caught.value.reason
    assert len(fox.invalid_requests) == 1 and "language" in fox.invalid_requests[0].violations
    assert_secret_free(caught.value, fox)


def test_wrong_eshop_is_the_accounts_fault_403(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    body = payload()
    body["eshopId"] = "aaaaaaaa-1234-1234-1234-1234567890ab"
    with pytest.raises(AccountError, match="Eshop was not found") as caught:
        client.upsert_order(body)
    assert caught.value.status == 403


def test_429_is_transient_with_retry_after(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    client.token()
    fox.fail_next(status=429, headers={"Retry-After": "1"})
    with pytest.raises(TransientDeliveryError) as caught:
        client.upsert_order(payload())
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    assert client.upsert_order(payload())  # and the next attempt goes through


@pytest.mark.parametrize("fault, match", [
    ({"status": 503, "body": {"title": "Service Unavailable"}}, "HTTP 503"),
    ({"status": 500}, "HTTP 500"),
    ({"delay_s": 1.0, "status": 503}, "timeout"),  # the late answer must not touch the next test
    ({"drop": True}, "connection failed"),
])
def test_server_errors_timeouts_and_drops_are_transient(fox: FoxdeliStandIn, fault: dict[str, Any], match: str) -> None:
    client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=0.5)
    client.token()
    fox.fail_next(**fault)
    with pytest.raises(TransientDeliveryError, match=match) as caught:
        client.upsert_order(payload())
    assert_secret_free(caught.value, fox)


def logins(fox: FoxdeliStandIn) -> int:
    return sum(1 for r in fox.requests if r.path == "/customer/api/v1/token/authorize")


def test_auth_endpoint_failures_are_transient_and_backed_off(fox: FoxdeliStandIn) -> None:
    now = [time.time()]
    client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2, clock=lambda: now[0])
    fox.fail_next(status=502)
    with pytest.raises(TransientDeliveryError, match="authorize: HTTP 502"):
        client.token()
    # Within the back-off nobody asks Foxdeli again: the same answer, and how long to wait.
    with pytest.raises(TransientDeliveryError, match="no new login") as held:
        client.token()
    assert held.value.retry_after == pytest.approx(1.0) and logins(fox) == 1
    now[0] += 1.01
    assert client.token() and logins(fox) == 2
    # Failures in a row wait longer (1 s, 2 s, …); a success resets the back-off.
    fox.revoke_tokens()
    fox.fail_next(2, status=503)
    for wait in (1.0, 2.0):
        with pytest.raises(TransientDeliveryError):
            client.token(force=True)
        with pytest.raises(TransientDeliveryError) as held:
            client.token(force=True)
        assert held.value.retry_after == pytest.approx(wait)
        now[0] += wait + 0.01
    assert client.token(force=True) and logins(fox) == 5


def test_a_429_on_login_is_honoured_for_its_retry_after(fox: FoxdeliStandIn) -> None:
    now = [time.time()]
    client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2, clock=lambda: now[0])
    fox.fail_next(status=429, headers={"Retry-After": "7"})
    with pytest.raises(TransientDeliveryError) as first:
        client.token()
    assert first.value.retry_after == 7.0
    now[0] += 6.9
    with pytest.raises(TransientDeliveryError) as held:
        client.upsert_order(payload())
    assert held.value.retry_after == pytest.approx(0.1, abs=0.01) and logins(fox) == 1
    assert [r.path for r in fox.requests] == ["/customer/api/v1/token/authorize"]  # nothing else went out
    now[0] += 0.11
    assert client.upsert_order(payload()) and logins(fox) == 2


def test_refused_credentials_are_not_tried_again_for_a_while(fox: FoxdeliStandIn) -> None:
    now = [time.time()]
    client = FoxdeliClient(fox.url, fox.username, "wrong-password-123", timeout_s=2, clock=lambda: now[0])
    for _ in range(5):
        with pytest.raises(AccountError) as caught:
            client.upsert_order(payload())
        assert caught.value.status == 401 and "Bad credentials" in caught.value.reason
    assert logins(fox) == 1
    now[0] += REFUSED_HOLD_S + 1
    with pytest.raises(AccountError):
        client.token()
    assert logins(fox) == 2
    client.set_password(fox.password)  # the operator fixed it: tried at once
    assert client.token() and logins(fox) == 3


def test_a_token_renewed_by_another_thread_is_taken_not_renewed_again(fox: FoxdeliStandIn, client: FoxdeliClient) -> None:
    first = client.token()
    fox.revoke_tokens()
    client.upsert_order(payload())  # 401 → one new login → resent
    assert logins(fox) == 2
    # A second thread still holding the old token gets its 401 too: it takes the new one.
    assert client.token(stale=first) != first and logins(fox) == 2


def test_threads_share_one_login() -> None:
    with FoxdeliStandIn(latency_s=0.05) as fox:  # every login takes a while: all threads ask at once
        client = FoxdeliClient(fox.url, fox.username, fox.password, timeout_s=2)
        with ThreadPoolExecutor(8) as pool:
            tokens = set(pool.map(lambda _: client.token(), range(8)))
        assert len(tokens) == 1 and logins(fox) == 1


def test_defaults_for_empty_base_url_and_timeout(target: FoxdeliTarget) -> None:
    client = target.client(ShopContext("a.myshopify.com", target.settings_for({"base_url": "", "username": "u", "password": "p"})))
    assert client.base_url == "https://api.foxdeli.com" and client.timeout_s == 10.0
    other = target.client(ShopContext("b.myshopify.com", target.settings_for({"base_url": "http://127.0.0.1:1/", "username": "u",
                                                                              "password": "p", "timeout_s": 3.5})))
    assert other.base_url == "http://127.0.0.1:1" and other.timeout_s == 3.5
