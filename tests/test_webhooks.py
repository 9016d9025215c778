"""The webhook endpoint: verify → store → answer, with the statuses interface.md promises."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest

from connector.shopify.verify import sign_body
from tests.support import (
    DOCS_ORDER,
    ORDER_ID,
    SECRET,
    SHOP,
    fixture_bytes,
    query,
    tuples,
    webhook_headers,
    writes_blocked,
)

pytestmark = pytest.mark.both_engines


@pytest.fixture
def overrides(overrides):  # type: ignore[no-untyped-def]
    """A webhook stored by its own commit, as on PostgreSQL (webhooks.journal = false): its row,
    its duplicate answer. The journal's answers and filing: tests/test_intake_journal.py."""
    return {**overrides, "webhooks.journal": False}


def stored(db_path: str) -> list[dict]:
    """The stored events, each with its raw body (a row of its own in event_bodies)."""
    bodies = {event_id: bytes(body) for event_id, body in tuples(db_path, "SELECT event_id, body FROM event_bodies")}
    return [{**row, "body": bodies[row["id"]]} for row in query(db_path, "SELECT * FROM events ORDER BY id")]


def test_signed_order_is_stored_before_200(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    headers = webhook_headers(body, webhook_id="w-1", event_id="e-1")
    response = client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 200
    assert response.json["duplicate"] is False
    [event] = stored(db_path)
    assert bytes(event["body"]) == body  # the raw bytes, not a re-serialisation
    assert (event["shop"], event["topic"], event["webhook_id"], event["event_id"]) == (SHOP, "orders/create", "w-1", "e-1")
    assert event["api_version"] == "2026-10" and event["triggered_at"] == headers["X-Shopify-Triggered-At"]
    assert event["received_at"] and event["state"] == "new"
    # 64-bit ids survive exactly: Python's json never goes through a float.
    assert json.loads(event["body"])["id"] == int(ORDER_ID)


def test_forged_hmac_is_refused_and_nothing_stored(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    for forged in [sign_body(body, "wrong-secret"), sign_body(body + b" ", SECRET), "", "not base64 at all ☃"]:
        headers = webhook_headers(body)
        headers["X-Shopify-Hmac-Sha256"] = forged
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    headers = webhook_headers(body)
    del headers["X-Shopify-Hmac-Sha256"]
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    assert stored(db_path) == []


def test_hex_signature_is_not_accepted(client, db_path):
    import hashlib
    import hmac

    body = fixture_bytes(DOCS_ORDER)
    headers = webhook_headers(body)
    headers["X-Shopify-Hmac-Sha256"] = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401


def test_previous_secret_is_accepted_during_rotation(settings, db_path):
    from connector.app import create_app
    from connector.config import Settings

    rotated = Settings({**settings.values, "shopify.api_secret": "new-secret", "shopify.previous_api_secret": SECRET}, settings.shops)
    client = create_app(settings=rotated).test_client()
    body = fixture_bytes(DOCS_ORDER)
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, secret="new-secret")).status_code == 200
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, secret="third")).status_code == 401


def test_events_header_spelling_is_accepted(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    headers = {k.replace("X-Shopify-", "Shopify-"): v for k, v in webhook_headers(body, event_id="ev-9").items()}
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert stored(db_path)[0]["event_id"] == "ev-9"


def test_same_delivery_twice_is_stored_once(post, db_path):
    body = fixture_bytes(DOCS_ORDER)
    assert post(body, webhook_id="w-1", event_id="e-1").json["duplicate"] is False
    second = post(body, webhook_id="w-2", event_id="e-1")  # a retry may carry a new webhook id
    assert second.status_code == 200 and second.json["duplicate"] is True
    assert len(stored(db_path)) == 1


def test_webhook_id_is_the_fallback_dedupe_key(post, db_path):
    body = fixture_bytes(DOCS_ORDER)
    post(body, webhook_id="w-1")
    post(body, webhook_id="w-1")
    post(body, webhook_id="w-2")
    assert len(stored(db_path)) == 2


def test_same_event_id_under_another_topic_is_a_distinct_event(post, db_path):
    body = fixture_bytes(DOCS_ORDER)
    post(body, "orders/create", event_id="e-1")
    post(body, "orders/paid", event_id="e-1")
    assert [e["topic"] for e in stored(db_path)] == ["orders/create", "orders/paid"]


def test_missing_required_headers_get_400(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    for missing in ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"]:
        headers = webhook_headers(body)
        del headers[missing]
        response = client.post("/webhooks/shopify", data=body, headers=headers)
        assert response.status_code == 400, missing
        assert "missing" in response.json["error"]
    for bad_shop in ["evil.com", "x.myshopify.com.evil.test", "-x.myshopify.com"]:
        response = client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, shop=bad_shop))
        assert response.status_code == 400, bad_shop
    assert stored(db_path) == []


def test_empty_body_is_400(client):
    assert client.post("/webhooks/shopify", data=b"", headers=webhook_headers(b"")).status_code == 400


def test_other_methods_get_405(client):
    for method in ("get", "put", "delete", "patch"):
        assert getattr(client, method)("/webhooks/shopify").status_code == 405


def test_body_over_the_limit_gets_413(settings, db_path):
    from connector.app import create_app
    from connector.config import Settings

    small = Settings({**settings.values, "webhooks.max_body_bytes": 2048}, settings.shops)
    client = create_app(settings=small).test_client()
    body = b'{"id": 1, "pad": "' + b"x" * 4096 + b'"}'
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 413
    assert stored(db_path) == []


def test_chunked_body_over_the_limit_gets_413_not_401(settings, db_path):
    """Without Content-Length, Werkzeug cuts the body at the limit; the cut body must not reach the HMAC check."""
    from connector.app import create_app
    from connector.config import Settings

    small = Settings({**settings.values, "webhooks.max_body_bytes": 2048}, settings.shops)
    client = create_app(settings=small).test_client()
    over = b'{"id": 1, "pad": "' + b"x" * 4096 + b'"}'

    def post_chunked(body: bytes):  # as gunicorn passes a chunked body: no length, input terminated
        headers = {**webhook_headers(body), "Transfer-Encoding": "chunked"}
        return client.post("/webhooks/shopify", input_stream=io.BytesIO(body), headers=headers,
                           environ_overrides={"wsgi.input_terminated": True})

    answer = post_chunked(over)
    assert answer.status_code == 413 and answer.get_json() == {"error": "body too large"}
    exactly = b'{"id": 1, "pad": "' + b"x" * (2048 - 20) + b'"}'
    assert len(exactly) == 2048
    assert post_chunked(exactly).status_code == 200
    assert [row["body"] for row in stored(db_path)] == [exactly]


def test_valid_hmac_over_invalid_json_is_stored(post, db_path):
    # Verified bytes are Shopify's: keep them (the worker sets them aside with a reason).
    assert post(b"{not json", webhook_id="w-x").status_code == 200
    assert bytes(stored(db_path)[0]["body"]) == b"{not json"


def test_unknown_topic_is_stored_and_acknowledged(post, db_path):
    assert post(b'{"id": 5}', "products/update").status_code == 200
    assert stored(db_path)[0]["topic"] == "products/update"


def test_storage_failure_answers_503_so_shopify_retries(settings, post, db_path):
    # Another process holds the write lock longer than our busy timeout.
    from connector.app import create_app
    from connector.config import Settings

    impatient = Settings({**settings.values, "database.busy_timeout_s": 0.2}, settings.shops)
    client = create_app(settings=impatient).test_client()
    body = fixture_bytes(DOCS_ORDER)
    with writes_blocked(db_path):
        response = client.post("/webhooks/shopify", data=body, headers=webhook_headers(body))
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        # /readyz only reads (probes must stay cheap): a held write lock is seen in the 503s above.
        assert client.get("/readyz").status_code == 200
    # Recovers by itself once the fault clears; the retried delivery is stored.
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_health_endpoints(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_a_cheap_read(client, db_path):
    """Probes come every few seconds from every balancer: they must not write (each was a
    write transaction) nor queue behind the write lock."""
    assert client.get("/readyz").status_code == 200
    app_state = "SELECT key, value FROM app_state ORDER BY key"
    before = query(db_path, app_state)
    with writes_blocked(db_path):  # someone holds the write lock meanwhile
        started = time.monotonic()
        answers = {client.get("/readyz").status_code for _ in range(50)}
        elapsed = time.monotonic() - started
    assert answers == {200}
    assert elapsed < 5  # never waited on the busy timeout (10 s per probe)
    assert query(db_path, app_state) == before  # nothing written


def test_shopify_known_answer_vector():
    # From Shopify/shopify_app's webhook_verification_test.rb.
    assert sign_body(b"foo=anything", "secret") == "yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI="
    assert sign_body(b"foo=anything", "old_secret") == "XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs="
    assert base64.b64decode(sign_body(b"", "s"))
