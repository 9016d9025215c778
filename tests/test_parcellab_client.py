"""The parcelLab target against the strict stand-in: real HTTP, real mapping, no mocks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from connector.errors import AccountError, MappingError, PermanentDeliveryError, TransientDeliveryError
from connector.sandbox.parcellab import ParcellabStandIn
from connector.targets.base import RemoteRef, ShopContext
from connector.targets.httpclient import classify_status, new_session
from connector.targets.parcellab import ParcellabTarget
from connector.targets.parcellab.client import STATUS_OVERRIDES, orders_url, put_order
from connector.targets.parcellab.settings import ParcellabSettings
from tests.golden import GOLDEN_DIR, load_fixture, order_fixtures

TOKEN = "MTYxMjM0NTpzM2NyM3QtdDBrM24="  # base64("1612345:s3cr3t-t0k3n"), the shape the app issues
DOCS_ORDER = "orders_create.shopify-docs-sample.exact-ids.json"
DE_ORDER = "orders_pl_de_split_shipment.json"
DOCS_FULFILLMENT = "fulfillments_create.shopify-docs-2026-04.json"


@pytest.fixture(scope="module")
def server() -> Iterator[ParcellabStandIn]:
    # One server per module: stopping one costs the base class's 0.5 s shutdown poll.
    with ParcellabStandIn(token=TOKEN) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def standin(server: ParcellabStandIn) -> ParcellabStandIn:
    server.reset()
    return server


@pytest.fixture
def target() -> Iterator[ParcellabTarget]:
    target = ParcellabTarget()
    yield target
    target.close()


def context(standin: ParcellabStandIn, silent: bool = False, **overrides: Any) -> ShopContext:
    settings = {
        "base_url": standin.url, "token": TOKEN, "account": "1612345", "client_key": "mybrand-a.com",
        "auth_scheme": "", "timeout_s": 2.0, "carriers": {"Regional Express Kurier": "dhl-express"},
        **overrides,
    }
    return ShopContext(shop="example.myshopify.com", settings=ParcellabSettings.from_target(settings), silent=silent)


def deliver(target: ParcellabTarget, ctx: ShopContext, order: dict[str, Any]) -> str | None:
    return target.send_order(target.map_order(order, ctx), RemoteRef(), ctx).remote_id


# -- happy paths -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", order_fixtures())
def test_every_fixture_passes_the_strict_standin(name: str, standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    ctx = context(standin)
    try:
        payload = target.map_order(load_fixture(name), ctx)
    except MappingError as exc:
        # Refused on purpose: then its golden file says so, with the same reason, and nothing is sent.
        assert json.loads((GOLDEN_DIR / "parcellab" / name).read_text()) == {"mapping_error": exc.reason}
        assert standin.requests == []
        return
    target.send_order(payload, RemoteRef(), ctx)
    assert standin.invalid_requests == []


def test_upsert_creates_then_updates_one_order(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    ctx = context(standin)
    order = load_fixture(DE_ORDER)
    first = deliver(target, ctx, order)
    order["total_price"] = "99.90"
    second = deliver(target, ctx, order)
    assert first == second and first is not None
    assert list(standin.orders) == [(1612345, "#1001")]
    assert standin.orders[(1612345, "#1001")]["order_total_amount"] == "99.90"
    assert [standin.requests[0].headers["Authorization"]] == [f"Parcellab-API-Token {TOKEN}"]
    assert standin.invalid_requests == []


def test_fulfillment_adds_each_tracking_once_even_when_sent_twice(
    standin: ParcellabStandIn, target: ParcellabTarget
) -> None:
    ctx = context(standin)
    order = load_fixture(DOCS_ORDER)
    deliver(target, ctx, order)
    payload = target.map_part("fulfillment", load_fixture(DOCS_FULFILLMENT), order, ctx)
    assert payload is not None
    results = [target.send_part("fulfillment", payload, RemoteRef(), ctx) for _ in range(2)]
    assert {r.remote_id for r in results} == {"ups:1z827wk74630"}
    assert list(standin.trackings) == [("ups", "1z827wk74630")]
    assert standin.trackings[("ups", "1z827wk74630")]["order"] == (1612345, "#9999")
    assert standin.invalid_requests == []


def test_silent_backfill_reaches_parcellab_without_notifications(
    standin: ParcellabStandIn, target: ParcellabTarget
) -> None:
    deliver(target, context(standin, silent=True), load_fixture(DE_ORDER))
    assert standin.trackings and all(t["notifications_inactive"] for t in standin.trackings.values())


def test_cancellation_applies_cancel_order(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    deliver(target, context(standin), load_fixture(DOCS_ORDER))
    stored = standin.orders[(1612345, "#9999")]
    assert stored["order_status"] == "Cancelled"
    assert stored["cancelled_reason"] == "customer"


def test_bearer_scheme_is_configurable(target: ParcellabTarget) -> None:
    with ParcellabStandIn(token=TOKEN, scheme="Bearer") as standin:
        deliver(target, context(standin, auth_scheme="Bearer"), load_fixture(DE_ORDER))  # type: ignore[arg-type]
        assert standin.invalid_requests == []


def test_order_deleted_is_a_documented_no_op(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    result = target.send_order_deleted("820982911946154508", RemoteRef(order_remote_id="abc"), context(standin))
    assert result.remote_id == "abc" and "nothing sent" in result.detail
    assert standin.requests == []


def test_refunds_have_no_parcellab_payload(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    refund = load_fixture("refunds_create.shopify-docs-2026-04.json")
    assert target.map_part("refund", refund, load_fixture(DOCS_ORDER), context(standin)) is None


def test_default_base_url() -> None:
    assert orders_url(ParcellabSettings.from_target({"base_url": ""})) == "https://api.parcellab.com/v4/track/orders/"
    assert orders_url(ParcellabSettings.from_target({"base_url": "https://api.eu.parcellab.com/"})) == "https://api.eu.parcellab.com/v4/track/orders/"


# -- refusals and failures -------------------------------------------------------------------------
def test_put_without_core_fields_is_never_sent(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    with pytest.raises(MappingError, match="recipient_email"):
        put_order(new_session(), context(standin).settings, {"account": 1, "order_number": "#1",
                                                                "destination_country_iso3": "DEU"})
    assert standin.requests == []


def test_failed_mutation_in_a_200_is_an_error(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next_mutation("Courier 'ups' is not enabled for this account")
    with pytest.raises(PermanentDeliveryError, match="not enabled for this account") as caught:
        deliver(target, context(standin), load_fixture(DE_ORDER))
    assert caught.value.status == 201


def test_unknown_courier_comes_back_as_permanent_error(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    ctx = context(standin, carriers={})  # "Regional Express Kurier" now slugs to an unknown code
    with pytest.raises(PermanentDeliveryError, match="regional-express-kurier"):
        deliver(target, ctx, load_fixture(DE_ORDER))


def test_clearly_transient_failed_mutation_is_transient(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next_mutation("Tracking service temporarily unavailable, try again")
    with pytest.raises(TransientDeliveryError, match="temporarily unavailable"):
        deliver(target, context(standin), load_fixture(DE_ORDER))


def test_validation_error_reason_is_kept(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    payload = target.map_order(load_fixture(DE_ORDER), context(standin))
    payload.update(orderNo="#1001", xid="5726128734520987651")  # legacy v2 names
    with pytest.raises(PermanentDeliveryError) as caught:
        target.send_order(payload, RemoteRef(), context(standin))
    reason = caught.value.reason
    assert caught.value.status == 400
    assert "validation_error" in reason and "orderNo: Unknown field. (unknown_field)" in reason and "xid" in reason
    assert len(standin.invalid_requests) == 1


def test_tracking_on_another_order_is_refused(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    ctx = context(standin)
    order = load_fixture(DOCS_ORDER)
    part = target.map_part("fulfillment", load_fixture(DOCS_FULFILLMENT), order, ctx)
    target.send_part("fulfillment", part, RemoteRef(), ctx)  # type: ignore[arg-type]
    other = dict(part, order_number="#5555")  # type: ignore[arg-type]
    with pytest.raises(PermanentDeliveryError, match="already belongs to order #9999"):
        target.send_part("fulfillment", other, RemoteRef(), ctx)


@pytest.mark.parametrize("status,verdict", [
    (400, "permanent"), (401, "account"), (403, "account"), (404, "permanent"), (409, "transient"),
    (422, "permanent"), (429, "transient"), (500, "transient"), (502, "transient"), (503, "transient"),
    (504, "transient"), (200, None), (201, None),
])
def test_status_classification_table(status: int, verdict: str | None) -> None:
    assert classify_status(status, STATUS_OVERRIDES) == verdict


def test_wrong_token_is_the_accounts_fault_and_never_in_reason_or_logs(
    standin: ParcellabStandIn, target: ParcellabTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "d3JvbmctdG9rZW4tdmFsdWU="
    with pytest.raises(AccountError) as caught:
        deliver(target, context(standin, token=wrong), load_fixture(DE_ORDER))
    assert caught.value.status == 401 and wrong not in caught.value.reason
    # A server (or proxy) that echoes the header must not leak it into our reason either.
    standin.fail_next(status=500, body={"detail": f"bad header Authorization: Parcellab-API-Token {TOKEN}"})
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(target, context(standin), load_fixture(DE_ORDER))
    assert TOKEN not in caught.value.reason and "***" in caught.value.reason
    assert TOKEN not in caplog.text and wrong not in caplog.text


def test_429_is_transient_with_retry_after(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next(status=429, headers={"Retry-After": "1"}, body={"detail": "Request was throttled."})
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(target, context(standin), load_fixture(DE_ORDER))
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    deliver(target, context(standin), load_fixture(DE_ORDER))  # the retry goes through
    assert len(standin.orders) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(status: int, standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next(status=status, body="<html>upstream error</html>")
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(target, context(standin), load_fixture(DE_ORDER))
    assert caught.value.status == status and "upstream error" in caught.value.reason


def test_timeout_is_transient(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next(delay_s=1.0, status=200)
    with pytest.raises(TransientDeliveryError, match="timeout after 0.3s: PUT"):
        deliver(target, context(standin, timeout_s=0.3), load_fixture(DE_ORDER))


def test_dropped_connection_is_transient(standin: ParcellabStandIn, target: ParcellabTarget) -> None:
    standin.fail_next(drop=True)
    with pytest.raises(TransientDeliveryError, match="connection failed"):
        deliver(target, context(standin), load_fixture(DE_ORDER))
