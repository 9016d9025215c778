"""The settings form in a real browser: saved through the real API, errors by their fields, every
merchant-entered value shown as text, read-only when the operator manages the shop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.harness import screenshot
from tests.browser.merchant import Merchant
from tests.browser.world import World
from tests.id_tokens import API_SECRET, mint_id_token
from tests.support import webhook_headers
from tests.tenancy_env import ESHOP_A, FOX_A, SHOP_A, order_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'


def api(world: World, method: str, path: str, body: Any = None) -> Any:
    client = world.app.test_client()
    return client.open(f"/app/api{path}", method=method, data=None if body is None else json.dumps(body),
                       headers={"Authorization": f"Bearer {mint_id_token(world.shop)}"}, content_type="application/json")


@pytest.fixture
def world(tmp_path, context, platforms):  # type: ignore[no-untyped-def]
    world = World(tmp_path, context, SHOP_A, *platforms)
    yield world
    world.close()


def markup_in(frame: Any) -> dict[str, Any]:
    return frame.evaluate("""() => ({ pwned: window.__pwned || 0,
        injected: document.querySelectorAll('main img, main script, #banners img, #banners script').length })""")


def test_settings_are_saved_with_errors_by_their_fields_and_script_never_runs(world, page, tmp_path):
    saved = api(world, "PUT", "/settings", {"target": {"kind": "foxdeli", **FOX_A},
                                            "options": {"skip_tags": ["wholesale"], "carriers": {"PPL CZ": "ppl"}}})
    assert saved.status_code == 200, saved.json
    m = Merchant(page, world.admin)
    frame = m.open("/app/settings")
    assert frame.query_selector("form[data-save-bar]")
    assert frame.input_value("#field-username") == FOX_A["username"]
    assert frame.input_value("#field-password") == "" and "Saved" in frame.get_attribute("#field-password", "placeholder")
    screenshot(page, world.admin, "settings", tmp_path)

    # <script> in every field the merchant can type into
    for selector in ("#field-username", "#field-eshop_id", "#field-password", "#field-skip_tags"):
        frame.fill(selector, SCRIPT)
    frame.fill(".carrier-row input >> nth=0", IMG)
    frame.fill(".carrier-row input >> nth=1", SCRIPT)
    m.press("save")
    errors = {el.get_attribute("data-field"): el.inner_text()
              for el in frame.query_selector_all(".has-error")}
    assert "eshop_id" in errors and "UUID" in errors["eshop_id"]  # next to its own field
    assert any("not saved" in banner for banner in m.banners())
    assert markup_in(frame) == {"pwned": 0, "injected": 0}

    frame.fill("#field-eshop_id", ESHOP_A)
    frame.fill("#field-password", FOX_A["password"])
    frame.fill(".carrier-row input >> nth=1", "ppl")
    m.press("save")
    stored = api(world, "GET", "/settings").json
    problems = {el.get_attribute("data-field"): el.inner_text() for el in frame.query_selector_all(".has-error")}
    assert problems == {}  # saved: the page shows what the server now holds, as values and text
    assert stored["target"]["username"] == SCRIPT and stored["options"]["skip_tags"] == [SCRIPT]
    assert IMG in stored["options"]["carriers"]
    assert frame.input_value("#field-username") == SCRIPT and frame.input_value("#field-skip_tags") == SCRIPT
    assert frame.input_value(".carrier-row input >> nth=0") == IMG
    assert markup_in(frame) == {"pwned": 0, "injected": 0}

    # and a hostile order name (the store's order prefix is the merchant's) on the orders page
    body = order_for(1001, name=f"{IMG}#1001")
    response = world.app.test_client().post("/webhooks/shopify", data=body,
                                            headers=webhook_headers(body, shop=world.shop, secret=API_SECRET))
    assert response.status_code == 200
    world.deliver()
    m.go("Orders")
    assert f"{IMG}#1001" in m.order_rows()
    assert markup_in(m.frame) == {"pwned": 0, "injected": 0}


def test_an_operator_managed_shop_sees_its_settings_read_only(tmp_path, context, page, platforms):
    fox = platforms[0]
    world = World(tmp_path, context, SHOP_A, *platforms, extra_toml=(
        f'kind = "foxdeli"\nusername = "{fox.username}"\npassword = "{fox.password}"\neshop_id = "{ESHOP_A}"\n'))
    try:
        m = Merchant(page, world.admin)
        frame = m.open("/app/settings")
        assert "Managed by your server operator." in frame.inner_text("main")
        assert not frame.query_selector("form[data-save-bar]") and not frame.query_selector("[data-action='save']")
        assert frame.evaluate("[...document.querySelectorAll('main input')].every((i) => i.disabled)")
        frame = m.open("/app")  # never onboarding: the operator connected the account
        assert frame.query_selector(".metrics")
    finally:
        world.close()
