"""Managed installation: the first verified request of a shop trades its ID token for an offline
token — against a local Shopify that checks the exchange as Shopify does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.app import create_app
from connector.lifecycle.tokens import get_access_token
from connector.sandbox.server import Response
from connector.sandbox.shopify import TOKEN_EXCHANGE, ShopifyStandIn
from connector.shopify.subscriptions import graphql_topic, subscribed_topics
from connector.store.db import close_thread_dbs, db_for
from connector.worker.loop import Worker
from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import APP_URL, database_bytes, fixture_bytes, make_settings, post_webhook, rows

SHOP = "managed-store.myshopify.com"
WANTED = sorted((graphql_topic(t), APP_URL + "/webhooks/shopify") for t in subscribed_topics())

pytestmark = pytest.mark.both_engines


@pytest.fixture
def shopify() -> Iterator[ShopifyStandIn]:
    with ShopifyStandIn(API_KEY, API_SECRET) as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def settings(tmp_path, db_path, shopify):  # type: ignore[no-untyped-def]
    yield make_settings(tmp_path, store=db_path, admin_base=shopify.url,
                        **{"shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET})
    close_thread_dbs()


@pytest.fixture
def client(settings):  # type: ignore[no-untyped-def]
    return create_app(settings=settings).test_client()


def api(client: Any, path: str = "/app/api/session", token: str | None = None):  # type: ignore[no-untyped-def]
    return client.get(path, headers={"Authorization": f"Bearer {token or mint_id_token(SHOP)}"})


def page(client: Any, token: str | None = None):  # type: ignore[no-untyped-def]
    query = f"embedded=1&shop={SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvbWFuYWdlZC1zdG9yZQ&id_token={token or mint_id_token(SHOP)}"
    return client.get(f"/app?{query}")


def test_the_first_request_installs_the_shop_by_token_exchange(client, shopify, settings):
    assert api(client).status_code == 200
    assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP]
    (source, token_enc, refresh_enc, expires) = rows(
        settings, "SELECT source, access_token, refresh_token, token_expires_at FROM shops WHERE shop = ?", (SHOP,))[0]
    assert source == "token_exchange" and refresh_enc and expires  # an expiring token, with its refresh token
    token = get_access_token(db_for(settings), settings, SHOP)
    assert token in shopify.tokens and token.encode() not in database_bytes(settings) and token_enc
    assert shopify.subscriptions_of(SHOP) == WANTED
    assert api(client).status_code == 200 and shopify.token_requests == 1  # once: the token is kept


def test_the_page_request_installs_too(client, shopify):
    assert page(client).status_code == 200
    assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP]


def test_held_events_are_released_by_the_exchange(client, shopify, settings):
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body, shop=SHOP, secret=API_SECRET).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT state FROM events") == [("held",)]  # the shop was not known
    assert api(client).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT state FROM events") == [("delivered",)]


def test_two_tabs_at_once_exchange_once(client, shopify, settings):
    shopify.latency_s = 0.3  # the first exchange is in flight while the second request arrives
    app = client.application
    answers: list[int] = []

    def open_tab() -> None:
        with app.test_client() as tab:
            answers.append(api(tab).status_code)
        close_thread_dbs()

    tabs = [threading.Thread(target=open_tab) for _ in range(3)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(30)
    assert answers == [200, 200, 200]
    assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP]
    assert len(shopify.subscriptions[SHOP]) == len(WANTED)


def test_a_stale_id_token_asks_app_bridge_for_a_fresh_one(client, shopify):
    shopify.token_answers.append(Response(400, {"error": "invalid_subject_token", "error_description": "expired"}))
    response = api(client)
    assert response.status_code == 401 and response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    page_response = page(client)  # the page: the bounce page, for a fresh token
    assert page_response.status_code == 200 and shopify.grants_of(TOKEN_EXCHANGE) == [SHOP]


def test_shopifys_429_and_5xx_are_retried_honouring_retry_after(client, shopify):
    shopify.token_answers += [Response(429, {"errors": "throttled"}, headers={"Retry-After": "1"}), Response(503, {"errors": "down"})]
    started = time.monotonic()
    assert api(client).status_code == 200
    assert time.monotonic() - started >= 1.0 and shopify.token_requests == 3


def test_shopify_down_is_a_503_and_a_later_request_installs(client, shopify, settings):
    shopify.token_answers += [Response(503, {"errors": "down"})] * 3
    response = api(client)
    assert response.status_code == 503 and "Shopify" in response.json["error"]
    assert rows(settings, "SELECT count(*) FROM shops") == [(0,)]
    assert api(client).status_code == 200


@pytest.mark.parametrize("answer", [
    {"access_token": None, "scope": "read_orders"},
    {"access_token": "", "scope": "read_orders"},
    {"scope": "read_orders"},
    {"access_token": "shpat_x", "scope": "read_orders", "expires_in": "soon"},
])
def test_a_token_answer_without_a_usable_token_never_installs(client, shopify, settings, answer):
    shopify.token_answers.append(Response(200, answer))
    assert api(client).status_code == 502
    assert rows(settings, "SELECT count(*) FROM shops") == [(0,)]


def test_a_reinstall_after_uninstall_exchanges_again_and_keeps_the_settings(client, shopify, settings):
    assert api(client).status_code == 200
    assert client.put("/app/api/settings", json={"options": {"skip_tags": ["b2b"]}},
                      headers={"Authorization": f"Bearer {mint_id_token(SHOP)}"}).status_code == 200
    assert post_webhook(client, "app/uninstalled", json.dumps({"id": 1, "myshopify_domain": SHOP}).encode(),
                        shop=SHOP, secret=API_SECRET).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT uninstalled_at IS NOT NULL, access_token FROM shops") == [(1, None)]
    time.sleep(0.01)
    assert api(client).status_code == 200
    assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP, SHOP]
    assert rows(settings, "SELECT uninstalled_at FROM shops") == [(None,)]
    settings_now = api(client, "/app/api/settings").json
    assert settings_now["options"]["skip_tags"] == ["b2b"]  # kept until shop/redact


def test_an_expired_token_whose_refresh_is_refused_is_exchanged_again(client, shopify, settings):
    assert api(client).status_code == 200
    db_for(settings).execute("UPDATE shops SET token_expires_at = '2000-01-01T00:00:00.000000Z'")
    shopify.refresh_tokens.clear()  # the refresh token no longer works
    assert api(client).status_code == 200
    assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP, SHOP]
