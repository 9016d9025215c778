"""The whole OAuth install against a local Shopify: Flask test client + real HTTP stand-in."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from connector.app import create_app
from connector.lifecycle.tokens import get_access_token
from connector.sandbox.shopify import ShopifyStandIn
from connector.shopify.subscriptions import graphql_topic, subscribed_topics
from connector.store.db import close_thread_dbs, db_for
from connector.worker.loop import Worker
from tests.support import (
    API_KEY,
    APP_URL,
    SECRET,
    SHOP,
    database_bytes,
    fixture_bytes,
    make_settings,
    post_webhook,
    rows,
    signed_query,
)

pytestmark = pytest.mark.both_engines

WANTED = sorted((graphql_topic(t), APP_URL + "/webhooks/shopify") for t in subscribed_topics())


@pytest.fixture
def shopify():
    with ShopifyStandIn(API_KEY, SECRET) as standin:
        yield standin


@pytest.fixture
def settings(tmp_path, db_path, shopify):
    yield make_settings(tmp_path, store=db_path, admin_base=shopify.url, **{"shopify.expiring_offline_tokens": False})
    close_thread_dbs()


@pytest.fixture
def client(settings):
    return create_app(settings=settings).test_client()


def start_install(client, shop: str = SHOP) -> str:
    """GET /auth/install as Shopify's admin link would; returns the state from the redirect."""
    response = client.get("/auth/install?" + signed_query({"shop": shop, "host": "YWRtaW4uc2hvcGlmeS5jb20"}))
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def callback_query(shopify, state: str, shop: str = SHOP, **extra: str) -> str:
    return signed_query({"code": shopify.issue_code(shop), "shop": shop, "state": state, **extra})


def install(client, shopify, shop: str = SHOP):
    return client.get("/auth/callback?" + callback_query(shopify, start_install(client, shop), shop))


def test_install_redirects_to_shopify_authorize_with_scopes_and_state(client, shopify):
    response = client.get("/auth/install?" + signed_query({"shop": SHOP}))
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/shops/{SHOP}/admin/oauth/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == [API_KEY]
    assert query["scope"] == ["read_orders,read_fulfillments"]
    assert query["redirect_uri"] == [APP_URL + "/auth/callback"]
    assert len(query["state"][0]) >= 32


def test_good_install_stores_encrypted_token_and_subscribes(client, shopify, settings):
    response = install(client, shopify)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert shopify.subscriptions_of(SHOP) == WANTED
    (stored,) = rows(settings, "SELECT access_token, source, uninstalled_at FROM shops WHERE shop = ?", (SHOP,))
    assert stored[1] == "oauth" and stored[2] is None
    token = get_access_token(db_for(settings), settings, SHOP)
    assert token.startswith("shpat_") and token in shopify.tokens
    raw = database_bytes(settings)
    assert token.encode() not in raw
    assert stored[0].encode() in raw  # what is there is the ciphertext


def test_installing_twice_creates_no_duplicate_subscriptions(client, shopify):
    assert install(client, shopify).status_code == 200
    assert install(client, shopify).status_code == 200
    assert shopify.subscriptions_of(SHOP) == WANTED
    assert len(shopify.subscriptions[SHOP]) == len(WANTED)  # more than one page of 5: paging works


@pytest.mark.parametrize("shop", ["evil.com", "x.myshopify.com.evil.test", "https://x.myshopify.com", "", "-x.myshopify.com", "x.myshopify.com/"])
def test_bad_shop_domains_are_refused_before_any_redirect(client, shop):
    # Even correctly signed: the domain check does not depend on the signature.
    response = client.get("/auth/install?" + signed_query({"shop": shop}))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert client.get("/auth/callback?" + signed_query({"shop": shop, "code": "c", "state": "s"})).status_code == 400


def test_forged_hmac_is_refused_and_burns_no_state(client, shopify, settings):
    forged = signed_query({"shop": SHOP}, secret="not-the-secret")
    response = client.get("/auth/install?" + forged)
    assert response.status_code == 401 and "Location" not in response.headers
    state = start_install(client)
    bad_callback = signed_query({"code": shopify.issue_code(SHOP), "shop": SHOP, "state": state}, secret="nope")
    assert client.get("/auth/callback?" + bad_callback).status_code == 401
    assert shopify.token_requests == 0
    # The real callback still works: the forged one did not consume the state.
    assert client.get("/auth/callback?" + callback_query(shopify, state)).status_code == 200


def test_tampered_parameter_breaks_the_hmac(client, shopify):
    state = start_install(client)
    query = callback_query(shopify, state).replace(SHOP, "other-shop.myshopify.com")
    assert client.get("/auth/callback?" + query).status_code == 401


def test_wrong_state_is_refused(client, shopify):
    start_install(client)
    response = client.get("/auth/callback?" + callback_query(shopify, "not-the-state"))
    assert response.status_code == 403
    assert shopify.token_requests == 0


def test_state_is_bound_to_its_shop(client, shopify):
    state = start_install(client, "other-shop.myshopify.com")
    assert client.get("/auth/callback?" + callback_query(shopify, state)).status_code == 403


def test_replayed_callback_is_refused(client, shopify):
    query = callback_query(shopify, start_install(client))
    assert client.get("/auth/callback?" + query).status_code == 200
    assert client.get("/auth/callback?" + query).status_code == 403
    assert shopify.token_requests == 1


def test_stale_timestamp_is_refused(client, shopify):
    state = start_install(client)
    old = str(int(time.time()) - 3600)
    query = signed_query({"code": shopify.issue_code(SHOP), "shop": SHOP, "state": state, "timestamp": old})
    assert client.get("/auth/callback?" + query).status_code == 401


def test_install_without_encryption_key_is_refused_clearly(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url, **{"shopify.token_encryption_key": ""})
    response = create_app(settings=settings).test_client().get("/auth/install?" + signed_query({"shop": SHOP}))
    assert response.status_code == 503
    assert "shopify.token_encryption_key" in response.get_data(as_text=True)
    close_thread_dbs()


def test_held_events_are_released_by_the_install(client, shopify, settings):
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT state FROM events") == [("held",)]
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(0,)]
    assert install(client, shopify).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT state FROM events") == [("delivered",)]
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(1,)]


def test_expiring_token_is_refreshed_before_use(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)  # expiring_offline_tokens defaults to true
    client = create_app(settings=settings).test_client()
    assert install(client, shopify).status_code == 200
    db = db_for(settings)
    (refresh_enc, expires_at) = rows(settings, "SELECT refresh_token, token_expires_at FROM shops")[0]
    assert refresh_enc and expires_at
    first = get_access_token(db, settings, SHOP)
    assert get_access_token(db, settings, SHOP) == first  # not due yet: no refresh
    old_refresh = next(iter(shopify.refresh_tokens))
    assert old_refresh.encode() not in database_bytes(settings)
    db.execute("UPDATE shops SET token_expires_at = '2000-01-01T00:00:00.000000Z'")
    shopify.expire_all_tokens()
    second = get_access_token(db, settings, SHOP)
    assert second != first and shopify.tokens[second][1] > time.time()
    assert old_refresh not in shopify.refresh_tokens  # rotated
    from connector.lifecycle.install import register_webhooks  # the Admin API works with the new token
    assert register_webhooks(db, settings, SHOP).kept
    close_thread_dbs()
