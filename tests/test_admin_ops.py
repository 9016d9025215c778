"""The operator API: token, bad input, re-sync jobs over HTTP, metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connector.app import create_app
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs
from tests.support import ADMIN_TOKEN, SHOP, auth, custom_app, make_settings

pytestmark = pytest.mark.both_engines


@pytest.fixture(scope="module")
def shopify():
    with ShopifyAdminStandIn(orders=60, restore_rate=5000) as standin:
        yield standin


@pytest.fixture
def client(tmp_path: Path, db_path: str, shopify: ShopifyAdminStandIn):
    settings = make_settings(tmp_path, store=db_path, shop=custom_app(shopify.url), **{"shopify.page_size": 25, "worker.reconcile_interval_s": 0})
    yield create_app(settings=settings).test_client()
    close_thread_dbs()


@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": ADMIN_TOKEN}, {"Authorization": "Basic " + ADMIN_TOKEN}])
@pytest.mark.parametrize("method, path", [("GET", "/admin/orders"), ("POST", "/admin/resync"), ("GET", "/admin/jobs/x")])
def test_admin_refuses_a_missing_or_wrong_token(client, headers, method, path) -> None:
    response = client.open(path, method=method, headers=headers, json={"shop": SHOP, "since": "2026-01-01T00:00:00Z"})
    assert response.status_code == 401
    assert "token" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_admin_is_closed_without_a_configured_token(tmp_path: Path, db_path: str) -> None:
    app = create_app(settings=make_settings(tmp_path, shop=custom_app(), store=db_path, **{"admin.token": ""}))
    response = app.test_client().get("/admin/orders", headers=auth(""))
    assert response.status_code == 401 and "closed" in response.get_json()["error"]
    close_thread_dbs()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"since": "2026-01-01T00:00:00Z"}, '"shop" is required'),
        ({"shop": "evil.example.com", "since": "2026-01-01T00:00:00Z"}, "domain like name.myshopify.com"),
        ({"shop": "ops-test.myshopify.com.evil.test", "since": "2026-01-01T00:00:00Z"}, "domain like"),
        ({"shop": "other.myshopify.com", "since": "2026-01-01T00:00:00Z"}, "unknown shop other.myshopify.com"),
        ({"shop": SHOP, "since": "yesterday"}, "ISO-8601"),
        ({"shop": SHOP, "since": "2026-13-45T00:00:00Z"}, "ISO-8601"),
        ({"shop": SHOP, "since": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"shop": SHOP, "since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "later than"),
        ({"shop": SHOP}, "exactly one of"),
        ({"shop": SHOP, "order_ids": [1], "since": "2026-01-01T00:00:00Z"}, "not both"),
        ({"shop": SHOP, "order_ids": ["abc"]}, "numeric"),
        ({"shop": SHOP, "order_ids": [1.5]}, "numeric"),
        ({"shop": SHOP, "order_ids": []}, "non-empty list"),
        ({"shop": SHOP, "order_ids": "123"}, "non-empty list"),
        ({"shop": SHOP, "order_ids": [1], "silent": "yes"}, '"silent" must be true or false'),
        ({"shop": SHOP, "order_ids": [1], "extra": 1}, "unknown field"),
        ([SHOP], "JSON object"),
    ],
)
def test_bad_resync_input_gets_400_with_a_clear_message(client, body, message) -> None:
    response = client.post("/admin/resync", json=body, headers=auth())
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("data", [b"", b"{not json", b"\xff\xfe"])
def test_a_non_json_body_gets_400(client, data: bytes) -> None:
    response = client.post("/admin/resync", data=data, headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]


def test_a_shop_without_admin_api_token_gets_400(tmp_path: Path, db_path: str) -> None:
    settings = make_settings(tmp_path, shop=custom_app(token=""), store=db_path)
    response = create_app(settings=settings).test_client().post(
        "/admin/resync", json={"shop": SHOP, "order_ids": [1]}, headers=auth()
    )
    assert response.status_code == 400 and "access token" in response.get_json()["error"]
    close_thread_dbs()


def _wait_for_job(client, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get(f"/admin/jobs/{job_id}", headers=auth()).get_json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_resync_runs_in_the_background_and_reports_progress(client, shopify) -> None:
    response = client.post("/admin/resync", json={"shop": SHOP, "since": "2020-01-01T00:00:00+01:00", "silent": True}, headers=auth())
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert response.headers["Location"] == f"/admin/jobs/{job_id}"
    job = _wait_for_job(client, job_id)
    assert job["status"] == "done" and job["kind"] == "resync"
    assert job["progress"] == {"pages": 3, "total": 60, "fetched": 60, "queued": 60, "already_queued": 0,
                               "skipped_known": 0, "recovered": 0, "fulfillments": 20}
    assert job["request"] == {"since": "2019-12-31T23:00:00Z", "silent": True}
    assert any("60 days" in n for n in job["notes"])
    listed = client.get("/admin/jobs?kind=resync", headers=auth()).get_json()["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]


def test_reconcile_over_the_admin_api(client) -> None:
    response = client.post("/admin/reconcile", json={"shop": SHOP, "window": "72h"}, headers=auth())
    assert response.status_code == 202
    job = _wait_for_job(client, response.get_json()["job_id"])
    assert job["kind"] == "reconcile" and job["status"] == "done"
    bad = client.post("/admin/reconcile", json={"shop": SHOP, "window": "soon"}, headers=auth())
    assert bad.status_code == 400 and "duration" in bad.get_json()["error"]


def test_unknown_job_is_404(client) -> None:
    response = client.get("/admin/jobs/nope", headers=auth())
    assert response.status_code == 404 and "no job" in response.get_json()["error"]


def test_replay_refuses_a_bad_shop(client) -> None:
    response = client.post("/admin/replay", json={"shop": "nope"}, headers=auth())
    assert response.status_code == 400 and "domain" in response.get_json()["error"]


def test_metrics_expose_delivery_throttling_and_queue_figures(client) -> None:
    from connector.metrics import record_delivery_attempt

    record_delivery_attempt("delivered", 0.2)
    record_delivery_attempt("transient", 1.0)
    text = client.get("/metrics").get_data(as_text=True)
    for name in (
        "connector_webhooks_total", 'connector_delivery_attempts_total{outcome="succeeded"}',
        'connector_delivery_attempts_total{outcome="retried"}', "connector_delivery_seconds_bucket",
        "connector_shopify_throttled_total", "connector_shopify_points_available", "connector_queue_depth",
        "connector_oldest_pending_event_age_seconds", "connector_dead_letters",
    ):
        assert name in text, name
