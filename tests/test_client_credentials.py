"""Dev Dashboard custom apps: the client credentials grant, renewals, and Shopify refusing one."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.errors import ShopifyApiError
from connector.lifecycle.client_credentials import renew_due_tokens
from connector.lifecycle.tokens import get_access_token
from connector.metrics import TOKEN_RENEWALS
from connector.sandbox.server import Response
from connector.sandbox.shopify import ShopifyStandIn
from connector.shopify.subscriptions import subscribed_topics
from connector.store.db import close_thread_dbs, db_for
from connector.timeutil import db_time_in
from connector.worker.loop import Worker
from connector.worker.renewals import TokenRenewals
from tests.support import API_KEY, SECRET, SHOP, database_bytes, fixture_bytes, make_settings, post_webhook, rows

CUSTOM_ID, CUSTOM_SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90", "shpss_custom_app_secret_0123456789abcdef"

pytestmark = pytest.mark.both_engines


@pytest.fixture
def shopify() -> Iterator[ShopifyStandIn]:
    with ShopifyStandIn(API_KEY, SECRET) as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _close():  # type: ignore[no-untyped-def]
    yield
    close_thread_dbs()


def cli(settings, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [*args, "--config", settings.source], input=input, catch_exceptions=False)


def failed_renewals() -> float:
    return TOKEN_RENEWALS.labels(outcome="failed")._value.get()  # type: ignore[attr-defined]


def test_shops_add_with_client_credentials_gets_a_24_hour_token(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    result = cli(settings, "shops", "add", SHOP, "--client-credentials")
    assert result.exit_code == 0, result.output
    assert shopify.grants_of("client_credentials") == [SHOP]
    (source, expires) = rows(settings, "SELECT source, token_expires_at FROM shops")[0]
    assert source == "client_credentials" and db_time_in(23 * 3600) < expires < db_time_in(25 * 3600)
    assert len(shopify.subscriptions_of(SHOP)) == len(subscribed_topics())
    token = get_access_token(db_for(settings), settings, SHOP)
    assert token in shopify.tokens and token.encode() not in database_bytes(settings)


def test_a_custom_apps_own_client_id_and_secret_are_kept_encrypted_and_used_for_renewals(tmp_path, db_path, shopify):
    shopify.add_custom_app(CUSTOM_ID, CUSTOM_SECRET)
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    result = cli(settings, "shops", "add", SHOP, "--client-credentials", "--client-id", CUSTOM_ID, input=CUSTOM_SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert CUSTOM_SECRET.encode() not in database_bytes(settings) and CUSTOM_SECRET not in result.output
    db = db_for(settings)
    db.execute("UPDATE shops SET token_expires_at = ?", [db_time_in(3600)])  # one hour left of 24
    assert renew_due_tokens(db, settings) == {SHOP: "renewed"}
    assert shopify.grants_of("client_credentials") == [SHOP, SHOP]


def test_the_config_equivalent_installs_on_the_first_renewal_pass(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url, shop={"client_credentials": True})
    db = db_for(settings)
    from connector.app import prepare_store

    prepare_store(settings)
    assert renew_due_tokens(db, settings) == {SHOP: "installed"}
    assert renew_due_tokens(db, settings) == {}  # 24 hours left: nothing to do
    assert get_access_token(db, settings, SHOP) in shopify.tokens


def test_a_refused_renewal_keeps_the_old_token_loses_no_event_and_is_tried_again(tmp_path, db_path, shopify, caplog):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    assert cli(settings, "shops", "add", SHOP, "--client-credentials").exit_code == 0
    db = db_for(settings)
    old = get_access_token(db, settings, SHOP)
    db.execute("UPDATE shops SET token_expires_at = ?", [db_time_in(1800)])  # renewal due
    shopify.token_answers += [Response(503, {"errors": "down"})] * 3
    before = failed_renewals()
    caplog.set_level(logging.ERROR)
    assert renew_due_tokens(db, settings) == {SHOP: "failed"}
    assert failed_renewals() == before + 1 and "not renewed" in caplog.text
    assert get_access_token(db, settings, SHOP) == old  # still valid: used until it expires
    assert renew_due_tokens(db, settings) == {}  # waits before trying again
    from connector.app import create_app

    client = create_app(settings=settings).test_client()
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body).status_code == 200  # webhooks need no token
    assert Worker(settings).run(once=True).delivered == 1
    db.execute("UPDATE shops SET renew_after = ?", [db_time_in(-1)])  # the wait is over; Shopify is back
    assert renew_due_tokens(db, settings) == {SHOP: "renewed"}
    assert get_access_token(db, settings, SHOP) != old


def test_an_expired_token_that_cannot_be_renewed_is_a_transient_error(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    assert cli(settings, "shops", "add", SHOP, "--client-credentials").exit_code == 0
    db = db_for(settings)
    db.execute("UPDATE shops SET token_expires_at = ?", [db_time_in(-60)])
    shopify.token_answers += [Response(503, {"errors": "down"})] * 3
    with pytest.raises(ShopifyApiError) as caught:
        get_access_token(db, settings, SHOP)
    assert caught.value.transient  # re-sync and reconcile jobs wait and resume
    assert get_access_token(db, settings, SHOP) in shopify.tokens  # renewed inline once Shopify answers


def test_the_worker_renews_in_the_background(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    assert cli(settings, "shops", "add", SHOP, "--client-credentials").exit_code == 0
    db_for(settings).execute("UPDATE shops SET token_expires_at = ?", [db_time_in(600)])
    thread = TokenRenewals(settings).tick()
    assert thread is not None
    thread.join(20)
    assert len(shopify.grants_of("client_credentials")) == 2


def test_the_legacy_token_path_is_labelled_legacy(tmp_path, db_path, shopify):
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    help_text = cli(settings, "shops", "add", "--help").output
    assert "legacy" in help_text.lower() and "--client-credentials" in help_text
    token = shopify.add_token(SHOP)
    assert cli(settings, "shops", "add", SHOP, "--token", token).exit_code == 0
    assert rows(settings, "SELECT source FROM shops") == [("custom",)]
    both = cli(settings, "shops", "add", SHOP, "--token", token, "--client-credentials")
    assert both.exit_code != 0 and "not both" in both.output


def test_a_custom_apps_webhooks_signed_with_its_own_secret_are_stored_until_shop_redact(tmp_path, db_path, shopify):
    from connector.app import create_app
    from connector.timeutil import now_db

    shopify.add_custom_app(CUSTOM_ID, CUSTOM_SECRET)
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    assert cli(settings, "shops", "add", SHOP, "--client-credentials", "--client-id", CUSTOM_ID,
               input=CUSTOM_SECRET + "\n").exit_code == 0
    client = create_app(settings=settings).test_client()
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    # Its subscriptions were made with its own token: Shopify signs with its own secret.
    assert post_webhook(client, "orders/create", body, secret=CUSTOM_SECRET).status_code == 200
    assert post_webhook(client, "orders/create", body, secret="shpss_forged_0000000000000000").status_code == 401
    other = "another-store.myshopify.com"  # the secret proves only the shop it belongs to
    assert post_webhook(client, "orders/create", body, secret=CUSTOM_SECRET, shop=other).status_code == 401
    assert Worker(settings).run(once=True).delivered == 1
    assert post_webhook(client, "app/uninstalled", {"id": 1, "myshopify_domain": SHOP}, secret=CUSTOM_SECRET,
                        triggered_at=now_db()).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT access_token FROM shops") == [(None,)]  # the token is gone...
    redact = {"shop_id": 1, "shop_domain": SHOP}  # ...and shop/redact, 48 hours later, still verifies
    assert post_webhook(client, "shop/redact", redact, secret=CUSTOM_SECRET).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT count(*) FROM shops") == [(0,)]
    assert post_webhook(client, "orders/create", body, secret=CUSTOM_SECRET).status_code == 401  # erased with the shop


def test_a_custom_apps_secret_from_the_config_verifies_its_webhooks(tmp_path, db_path, shopify):
    from connector.app import create_app

    shopify.add_custom_app(CUSTOM_ID, CUSTOM_SECRET)
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url,
                             shop={"client_credentials": True, "client_id": CUSTOM_ID, "client_secret": CUSTOM_SECRET})
    client = create_app(settings=settings).test_client()
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body, secret=CUSTOM_SECRET).status_code == 200
    assert post_webhook(client, "orders/create", body, secret=CUSTOM_SECRET, shop="another-store.myshopify.com").status_code == 401


def test_a_legacy_apps_secret_in_its_entry_verifies_its_webhooks(tmp_path, db_path):
    from connector.app import create_app

    legacy_secret = "shpss_legacy_admin_app_0123456789abcdef"
    settings = make_settings(tmp_path, store=db_path, shop={"access_token": "shpat_legacy", "client_secret": legacy_secret})
    client = create_app(settings=settings).test_client()
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body, secret=legacy_secret).status_code == 200
    assert post_webhook(client, "orders/create", body).status_code == 200  # the app's own secret still works
    assert post_webhook(client, "orders/create", body, secret=legacy_secret, shop="another-store.myshopify.com").status_code == 401


def test_shops_add_keeps_a_legacy_apps_secret_encrypted_to_verify_its_webhooks(tmp_path, db_path, shopify):
    from connector.app import create_app

    legacy_secret = "shpss_legacy_admin_app_fedcba9876543210"
    settings = make_settings(tmp_path, store=db_path, admin_base=shopify.url)
    result = cli(settings, "shops", "add", SHOP, "--token", shopify.add_token(SHOP), "--app-secret", input=legacy_secret + "\n")
    assert result.exit_code == 0, result.output
    assert legacy_secret not in result.output and legacy_secret.encode() not in database_bytes(settings)
    assert shopify.subscriptions_of(SHOP)  # subscribed after the secret was kept
    client = create_app(settings=settings).test_client()
    body = fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")
    assert post_webhook(client, "orders/create", body, secret=legacy_secret).status_code == 200
    both = cli(settings, "shops", "add", SHOP, "--client-credentials", "--app-secret")
    assert both.exit_code != 0 and "--app-secret goes with --token" in both.output
