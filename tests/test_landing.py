"""The bare address (``GET /``) and ``shopify.app.toml.example``: Shopify's launches land in the
app, an OAuth install starts, a person typing the address learns where to go — never a 404."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connector.store.db import get_db, location_of
from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import APP_URL, SHOP, fast_settings, make_settings, signed_query
from tests.tenancy_env import install

ROOT = Path(__file__).resolve().parent.parent
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtby1zaG9w"  # admin.shopify.com/store/demo-shop


@pytest.fixture
def settings(db_path, tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, **{**fast_settings(db_path), "shopify.api_key": API_KEY,
                                      "shopify.api_secret": API_SECRET, "shopify.app_url": APP_URL})


def test_a_person_typing_the_address_is_told_where_to_go(client):
    response = client.get("/")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Shopify admin" in text and "docs/install.md" in text and "/healthz" in text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_shopifys_embedded_launch_goes_to_the_app_with_its_query_intact(client, settings):
    install(settings, get_db(location_of(settings)), SHOP)
    query = f"embedded=1&host={HOST}&id_token={mint_id_token(SHOP)}&shop={SHOP}&locale=en"
    response = client.get(f"/?{query}")
    assert response.status_code == 302 and response.headers["Location"] == f"/app?{query}"
    assert client.get(response.headers["Location"]).status_code == 200  # the app page, its token verified there
    stale = client.get(f"/?embedded=1&host={HOST}&id_token=stale.token.here&shop={SHOP}")
    assert client.get(stale.headers["Location"]).headers["Location"].startswith("/auth/patch-id-token?")


def test_a_signed_launch_of_a_shop_not_installed_starts_the_oauth_grant(client):
    query = signed_query({"shop": SHOP, "host": HOST}, secret=API_SECRET)
    response = client.get(f"/?{query}")
    assert response.status_code == 302 and response.headers["Location"] == f"/auth/install?{query}"
    grant = client.get(response.headers["Location"])  # the install checks the signature again
    assert grant.status_code == 302
    assert parse_qs(urlsplit(grant.headers["Location"]).query)["client_id"] == [API_KEY]


def test_a_signed_launch_of_an_installed_shop_opens_the_app_in_its_admin(client, settings):
    install(settings, get_db(location_of(settings)), SHOP)
    query = signed_query({"shop": SHOP, "host": HOST}, secret=API_SECRET)
    response = client.get(f"/?{query}")
    assert response.headers["Location"] == f"/app?{query}"
    assert client.get(response.headers["Location"]).headers["Location"] == f"https://admin.shopify.com/store/demo-shop/apps/{API_KEY}"


@pytest.mark.parametrize("params", [
    {"shop": SHOP, "hmac": "0" * 64, "timestamp": "1"},  # forged
    {"shop": "evil.example.com", "host": "ZXZpbC5leGFtcGxlLmNvbQ"},  # not Shopify's
])
def test_an_unsigned_or_foreign_launch_never_starts_an_install(client, params: dict[str, Any]):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/?{query}")
    assert not response.headers.get("Location", "").startswith("/auth/install")
    if response.status_code == 302:  # the app decides, and never leaves Shopify's admin
        followed = client.get(response.headers["Location"])
        assert followed.status_code == 400 or followed.headers["Location"].startswith(f"https://{SHOP}/admin/apps/")


def test_the_app_toml_example_points_shopify_at_pages_that_answer(client, settings):
    install(settings, get_db(location_of(settings)), SHOP)
    toml = tomllib.loads((ROOT / "shopify.app.toml.example").read_text(encoding="utf-8"))
    base = "https://connector.example.com"
    application_path = toml["application_url"].removeprefix(base) or "/"
    assert toml["embedded"] is True and toml["access_scopes"]["use_legacy_install_flow"] is False  # managed installation
    assert set(toml["access_scopes"]["scopes"].split(",")) >= {"read_orders", "read_fulfillments"}
    query = f"embedded=1&host={HOST}&id_token={mint_id_token(SHOP)}&shop={SHOP}"
    launched = client.get(f"{application_path}?{query}", follow_redirects=True)
    assert launched.status_code == 200 and "app-bridge.js" in launched.get_data(as_text=True)
    assert client.get(application_path).status_code != 404  # opened by hand: a page, not a 404
    assert [u.removeprefix(base) for u in toml["auth"]["redirect_urls"]] == ["/auth/callback"]
    for subscription in toml["webhooks"]["subscriptions"]:
        assert subscription["uri"] == "/webhooks/shopify"
    assert client.get("/auth/callback").status_code != 404
