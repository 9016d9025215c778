"""``--silent`` says what it really does at the shop's platform, before the re-sync starts.

parcelLab can be told per tracking (``notifications_inactive``); Foxdeli cannot be told at all.
The CLI prints the sentence before its progress bar, the admin API's 202 carries it, and the
job keeps it in its notes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.app import create_app
from connector.cli import main
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs
from connector.targets.silence import SILENT_EFFECTS, silent_effect
from tests.support import SECRET, SHOP, auth, custom_app, make_settings

FOXDELI = "cannot be honoured by Foxdeli"
PARCELLAB = "notifications_inactive"
TARGETS = {
    "foxdeli": {"target.kind": "foxdeli", "target.username": "u", "target.password": "p",
                "target.eshop_id": "12345678-1234-1234-1234-1234567890ab"},
    "parcellab": {"target.kind": "parcellab", "target.token": "t", "target.account": "1"},
}


@pytest.fixture
def shopify() -> Iterator[ShopifyAdminStandIn]:
    with ShopifyAdminStandIn(orders=5, restore_rate=5000) as standin:
        yield standin
    close_thread_dbs()


def test_every_platform_says_what_silent_does() -> None:
    assert FOXDELI in silent_effect("foxdeli") and "switch those e-mails off" in silent_effect("foxdeli")
    assert PARCELLAB in silent_effect("parcellab") and "order-confirmation" in silent_effect("parcellab")
    assert "not passed on" in silent_effect("http") and "nothing is sent" in silent_effect("dry-run")
    assert "no tracking account yet" in silent_effect(None)
    assert not any("asked not to notify" in text for text in SILENT_EFFECTS.values())


@pytest.mark.parametrize("kind, expected", [("foxdeli", FOXDELI), ("parcellab", PARCELLAB)])
def test_the_admin_api_answers_with_what_silent_will_do(tmp_path: Path, shopify, kind: str, expected: str) -> None:
    settings = make_settings(tmp_path, custom_app(shopify.url), **TARGETS[kind], **{"worker.reconcile_interval_s": 0})
    client = create_app(settings=settings).test_client()
    order_id = shopify.order_ids()[0]
    answer = client.post("/admin/resync", json={"shop": SHOP, "order_ids": [order_id], "silent": True}, headers=auth())
    assert answer.status_code == 202
    notes = answer.get_json()["notes"]
    assert [n for n in notes if expected in n], notes
    assert not [n for n in notes if "asked not to notify" in n]
    loud = client.post("/admin/resync", json={"shop": SHOP, "order_ids": [order_id]}, headers=auth())
    assert not [n for n in loud.get_json()["notes"] if "silent" in n]


def test_the_cli_prints_it_before_the_resync_runs(tmp_path: Path, shopify) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[shopify]\napi_secret = "{SECRET}"\n[database]\npath = "{tmp_path / "c.db"}"\n'
        '[target]\nkind = "foxdeli"\nall_shops = true\nusername = "u"\npassword = "p"\n'
        'eshop_id = "12345678-1234-1234-1234-1234567890ab"\n[worker]\nreconcile_interval_s = 0\n'
        f'[shops."{SHOP}"]\naccess_token = "shpat_standin"\nadmin_url = "{shopify.url}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["resync", "--config", str(config), "--shop", SHOP, "--order", str(shopify.order_ids()[0]), "--silent"]
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert FOXDELI in output and "asked not to notify" not in output
    assert output.index(FOXDELI) < output.index("): done")  # said before the job ran, not only after
