"""The embedded page's document requests, the bounce page and the merchant API guard."""

from __future__ import annotations

import base64
import re
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from connector.store.db import get_db, location_of
from tests.id_tokens import API_KEY, API_SECRET, PREVIOUS_API_SECRET, mint_id_token
from tests.support import SHOP, fast_settings
from tests.tenancy_env import install

HOST = base64.b64encode(b"admin.shopify.com/store/demo-shop").decode().rstrip("=")
PAGES = ["/app", "/app/orders", "/app/settings", "/app/orders/820982911946154508"]
CREDENTIALS = {
    "shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET, "shopify.previous_api_secret": PREVIOUS_API_SECRET,
}


@pytest.fixture(autouse=True)
def installed(app, settings):  # type: ignore[no-untyped-def]
    """The shop holds an offline token, so opening the app needs no token exchange (its own tests)."""
    install(settings, get_db(location_of(settings)), SHOP)


@pytest.fixture
def overrides(db_path: str) -> dict[str, Any]:
    return {**fast_settings(db_path), **CREDENTIALS}


def admin_query(**changes: Any) -> str:
    """The query string Shopify's admin opens the app with (in its order)."""
    params = {
        "embedded": "1", "hmac": "c0ffee", "host": HOST, "id_token": mint_id_token(SHOP),
        "locale": "en", "session": "abc123", "shop": SHOP, "timestamp": str(int(time.time())),
    }
    params.update(changes)
    return "&".join(f"{key}={value}" for key, value in params.items() if value is not None)


def bounce_target(location: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(location)
    return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_a_verified_token_with_the_shops_csp(client, path):
    response = client.get(f"{path}?{admin_query()}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com;")
    assert "script-src 'self' https://cdn.shopify.com" in csp
    assert "app-bridge.js" in response.headers["Link"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_shell_loads_app_bridge_first_then_polaris_and_no_inline_script(client):
    html = client.get(f"/app?{admin_query()}").get_data(as_text=True)
    head = html.split("</head>")[0]
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts[0][0].strip() == 'src="https://cdn.shopify.com/shopifycloud/app-bridge.js"'
    assert 'src="https://cdn.shopify.com/shopifycloud/polaris.js"' in scripts[1][0]
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)  # no inline script
    assert head.index('<meta name="shopify-api-key"') < head.index("app-bridge.js")
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in head
    assert re.search(r'<s-app-nav>.*href="/app" rel="home".*href="/app/orders".*href="/app/settings".*</s-app-nav>', html, re.S)
    assert 'href="/app/static/app.css"' in head
    assert " on" not in re.sub(r'"[^"]*"', '""', html).lower().replace(" only", "")  # no onclick= etc.


def test_static_assets_are_served_and_revalidated(client):
    with client.get("/app/static/app.css") as css:  # a file response: closed when done
        assert css.status_code == 200 and css.headers["Cache-Control"] == "no-cache" and css.headers["ETag"]
    with client.get("/app/static/app.css", headers={"If-None-Match": css.headers["ETag"]}) as cached:
        assert cached.status_code == 304
    with client.get("/app/static/js/main.js") as script:
        assert script.mimetype in {"text/javascript", "application/javascript"}


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_id_token_goes_to_the_bounce_page_with_its_params(client, path):
    query = admin_query(id_token=None)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 302
    bounce, params = bounce_target(response.headers["Location"])
    assert bounce == "/auth/patch-id-token"
    assert params.pop("shopify-reload") == f"{path}?{query}"
    assert params == dict(parse_qsl(query))
    assert "Content-Security-Policy" not in response.headers or SHOP not in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("token", [
    mint_id_token(SHOP, exp=int(time.time()) - 120, nbf=int(time.time()) - 180, iat=int(time.time()) - 180),
    mint_id_token(SHOP, secret="shpss_" + "7" * 32),
    mint_id_token(SHOP, secret=API_KEY),
    mint_id_token(SHOP, aud="someone-else"),
    "garbage",
])
def test_a_stale_or_forged_id_token_goes_to_the_bounce_page_without_it(client, token):
    response = client.get(f"/app/orders?{admin_query(id_token=token)}")
    assert response.status_code == 302
    bounce, params = bounce_target(response.headers["Location"])
    assert bounce == "/auth/patch-id-token" and "id_token" not in params
    assert "id_token" not in unquote(params["shopify-reload"]) and params["shopify-reload"].startswith("/app/orders?")


def test_the_bounce_keeps_the_original_encoding_of_every_other_param(client):
    response = client.get(f"/app?embedded=1&shop={SHOP}&locale=de%2DCH&x=a%20b&id_token=stale")
    location = response.headers["Location"]
    assert location.startswith("/auth/patch-id-token?embedded=1&shop=demo-shop.myshopify.com&locale=de%2DCH&x=a%20b&")
    assert location.endswith("&shopify-reload=" + "%2Fapp%3Fembedded%3D1%26shop%3Ddemo-shop.myshopify.com%26locale%3Dde%252DCH%26x%3Da%2520b")


def test_the_previous_secret_still_opens_the_page(client):
    assert client.get(f"/app?{admin_query(id_token=mint_id_token(SHOP, secret=PREVIOUS_API_SECRET))}").status_code == 200


def test_the_csp_names_the_tokens_shop_never_the_query_shop(client):
    query = admin_query(shop="evil-shop.myshopify.com", id_token=mint_id_token(SHOP))
    response = client.get(f"/app?{query}")
    assert response.status_code == 200
    assert "evil-shop" not in response.headers["Content-Security-Policy"]
    assert SHOP in response.headers["Content-Security-Policy"]


def test_opened_outside_the_admin_the_browser_goes_into_the_admin(client):
    response = client.get(f"/app?shop={SHOP}&host={HOST}&hmac=x&timestamp=1")
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://admin.shopify.com/store/demo-shop/apps/{API_KEY}"
    legacy = base64.b64encode(b"demo-shop.myshopify.com/admin").decode()
    assert client.get(f"/app/settings?shop={SHOP}&host={legacy}&embedded=0").headers["Location"] == (
        f"https://demo-shop.myshopify.com/admin/apps/{API_KEY}"
    )


@pytest.mark.parametrize("host", [
    base64.b64encode(b"evil.example/store/demo-shop").decode(),
    base64.b64encode(b"admin.shopify.com.evil.example/store/x").decode(),
    base64.b64encode(b"admin.shopify.com/store/x?next=https://evil.example").decode(),
    base64.b64encode(b"admin.shopify.com@evil.example").decode(),
    "not base64!",
    "",
])
def test_an_untrusted_host_never_picks_the_redirect(client, host):
    response = client.get(f"/app?shop={SHOP}&host={host}")
    assert response.headers["Location"] == f"https://{SHOP}/admin/apps/{API_KEY}"  # from the valid shop
    refused = client.get(f"/app?shop=evil.example&host={host}")
    assert refused.status_code == 400
    assert refused.headers["Content-Security-Policy"].startswith("frame-ancestors https://admin.shopify.com;")
    assert "Open the app from your Shopify admin" in refused.get_data(as_text=True)


def test_the_bounce_page_is_exactly_app_bridge(client):
    response = client.get(f"/auth/patch-id-token?embedded=1&shop={SHOP}&host={HOST}&shopify-reload=%2Fapp%3Fembedded%3D1")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.get_data(as_text=True) == (
        f'<script data-api-key="{API_KEY}" src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>'
    )
    assert response.headers["Content-Security-Policy"].startswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com;")
    assert response.headers["Link"] == '<https://cdn.shopify.com/shopifycloud/app-bridge.js>; rel="preload"; as="script";'


@pytest.mark.parametrize("query", [
    "shopify-reload=%2Fapp",                                         # no shop
    f"shop={SHOP}",                                                  # no shopify-reload
    "shop=evil.example&shopify-reload=%2Fapp",                       # not a shop
    "shop=demo-shop.myshopify.com.evil.example&shopify-reload=%2Fapp",
    "shop=x.myshopify.com%20https://evil.example&shopify-reload=%2Fapp",  # header injection
])
def test_the_bounce_page_refuses_what_shopify_never_sends(client, query):
    response = client.get(f"/auth/patch-id-token?{query}")
    assert response.status_code == 400
    assert "evil" not in response.headers.get("Content-Security-Policy", "")


def test_an_order_page_needs_a_numeric_id(client):
    assert client.get(f"/app/orders/12ab?{admin_query()}").status_code == 404
    for unicode_digits in ("١٢٣", "²³"):  # str.isdigit() is true for both: not Shopify ids
        assert client.get(f"/app/orders/{unicode_digits}?{admin_query()}").status_code == 404


# -- the merchant API guard -------------------------------------------------------------------

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_verified_token_reaches_the_api_with_its_shop(client):
    response = client.get("/app/api/session?shop=evil-shop.myshopify.com", headers=bearer(mint_id_token(SHOP)))
    assert response.status_code == 200
    assert response.get_json() == {"shop": SHOP}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_the_previous_secret_reaches_the_api(client):
    assert client.get("/app/api/session", headers=bearer(mint_id_token(SHOP, secret=PREVIOUS_API_SECRET))).status_code == 200


@pytest.mark.parametrize("make_headers", [
    lambda: {},
    lambda: {"Authorization": "Basic YWRtaW46YWRtaW4="},
    lambda: {"Authorization": "Bearer"},
    lambda: bearer("garbage"),
    lambda: bearer(mint_id_token(SHOP, secret="shpss_" + "7" * 32)),
    lambda: bearer(mint_id_token(SHOP, secret=API_KEY)),
    lambda: bearer(mint_id_token(SHOP, aud="someone-else")),
    lambda: bearer(mint_id_token(SHOP, exp=int(time.time()) - 60, nbf=int(time.time()) - 120, iat=int(time.time()) - 120)),
    # Minted when the test runs, not at collection: a long suite run would otherwise reach nbf.
    lambda: bearer(mint_id_token(SHOP, nbf=int(time.time()) + 60, exp=int(time.time()) + 120)),
    lambda: bearer(mint_id_token(SHOP, iss="https://other-shop.myshopify.com/admin")),
    lambda: bearer(mint_id_token(SHOP, dest="https://evil.example", iss="https://evil.example/admin")),
    lambda: bearer(mint_id_token(SHOP, sid=None)),
    lambda: bearer("eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(b'{"dest":"https://demo-shop.myshopify.com"}').decode().rstrip("=") + "."),
])
def test_the_api_refuses_every_bad_token_alike_and_asks_app_bridge_to_retry(client, make_headers):
    headers = make_headers()
    response = client.get("/app/api/session", headers=headers)
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert response.get_json() == {"error": "unauthorized"}  # the same for every failure: reveals nothing
    assert response.headers["Cache-Control"] == "no-store"


def test_the_api_never_takes_the_token_from_the_query(client):
    response = client.get(f"/app/api/session?id_token={mint_id_token(SHOP)}")
    assert response.status_code == 401


def test_without_an_api_key_the_api_and_the_pages_stay_shut(app, client):
    app.config["SETTINGS"].values["shopify.api_key"] = ""
    token = mint_id_token(SHOP, aud="")
    assert client.get("/app/api/session", headers=bearer(token)).status_code == 401
    page = client.get(f"/app?{admin_query(id_token=token)}")
    assert page.status_code == 503 and "shopify.api_key" in page.get_data(as_text=True)  # never a bounce loop
    assert client.get(f"/auth/patch-id-token?shop={SHOP}&shopify-reload=%2Fapp").status_code == 500
