"""Custom apps and operator commands: shops add/list/remove, register-webhooks, key generation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.lifecycle.install import register_webhooks
from connector.sandbox.shopify import ShopifyStandIn
from connector.shopify.subscriptions import subscribed_topics
from connector.store.db import close_thread_dbs, get_db
from tests.support import API_KEY, SECRET, SHOP, custom_app, database_bytes, make_settings, rows


@pytest.fixture
def shopify():
    with ShopifyStandIn(API_KEY, SECRET) as standin:
        yield standin


@pytest.fixture(autouse=True)
def _close():
    yield
    close_thread_dbs()


def run(settings, *args: str, input: str | None = None):
    return CliRunner().invoke(main, [*args, "--config", settings.source], input=input, catch_exceptions=False)


def test_shops_add_stores_encrypted_token_and_subscribes(tmp_path, shopify):
    settings = make_settings(tmp_path, admin_base=shopify.url)
    token = shopify.add_token(SHOP)
    result = run(settings, "shops", "add", SHOP, "--token", token)
    assert result.exit_code == 0, result.output
    assert len(shopify.subscriptions_of(SHOP)) == len(subscribed_topics())
    assert token.encode() not in database_bytes(settings)
    listing = run(settings, "shops", "list")
    assert SHOP in listing.output and "custom" in listing.output and token not in listing.output
    again = run(settings, "register-webhooks", "--shop", SHOP)
    assert again.exit_code == 0 and "created none" in again.output
    assert run(settings, "shops", "remove", SHOP).exit_code == 0
    assert rows(settings, "SELECT access_token, uninstalled_at IS NOT NULL FROM shops") == [(None, 1)]
    purged = run(settings, "shops", "remove", SHOP, "--purge")
    assert purged.exit_code == 0 and "erased" in purged.output
    assert rows(settings, "SELECT count(*) FROM shops") == [(0,)]


def test_shops_add_refuses_clear_text_storage_without_a_key(tmp_path, shopify):
    settings = make_settings(tmp_path, admin_base=shopify.url, **{"shopify.token_encryption_key": ""})
    result = run(settings, "shops", "add", SHOP, "--token", "shpat_x", "--no-register")
    assert result.exit_code != 0 and "shopify.token_encryption_key" in result.output
    assert rows(settings, "SELECT count(*) FROM shops") == [(0,)]


def test_configured_token_is_used_without_oauth(tmp_path, shopify):
    token = shopify.add_token(SHOP)
    settings = make_settings(tmp_path, shop=custom_app(shopify.url, token))
    result = run(settings, "register-webhooks", "--shop", SHOP)
    assert result.exit_code == 0, result.output
    assert len(shopify.subscriptions_of(SHOP)) == len(subscribed_topics())
    assert register_webhooks(get_db(settings["database.path"]), settings, SHOP).created == []


def test_register_webhooks_for_an_unknown_shop_fails_clearly(tmp_path, shopify):
    settings = make_settings(tmp_path, admin_base=shopify.url)
    result = run(settings, "register-webhooks", "--shop", SHOP)
    assert result.exit_code == 1 and "no Admin API token" in result.output


def test_new_key_prints_a_usable_key(tmp_path):
    key = CliRunner().invoke(main, ["shops", "new-key"]).output.strip()
    settings = make_settings(tmp_path, **{"shopify.token_encryption_key": key})
    from connector.lifecycle.tokens import token_cipher

    assert token_cipher(settings).decrypt(token_cipher(settings).encrypt("t")) == "t"


@pytest.mark.parametrize("command", [["shops", "list"], ["shops", "add"], ["shops", "remove"], ["shops", "new-key"],
                                     ["register-webhooks"], ["privacy", "requests"], ["privacy", "export"]])
def test_every_lifecycle_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
