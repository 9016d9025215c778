"""`connector check` (issue 12, item 7): configuration, database, and each shop's Shopify access
and tracking account, tried for real against the stand-ins — one verdict a line, what to fix,
exit 1 when something is wrong. And `serve`/`worker`/`run` refuse, in one line, to start with an
account configured for use that lacks its credentials (its orders were all dead-lettered)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.app import prepare_store
from connector.cli import main
from connector.config import load_settings
from connector.crypto import generate_key
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs, connect
from connector.store.shops import add_shop
from tests.conftest import SECRET
from tests.tenancy_env import ESHOP_A, FOX_A, PL_C, add_merchant_accounts, connect_account

GOOD = "good-store.myshopify.com"  # the operator's Foxdeli account, right credentials, Admin API token
WRONG = "wrong-store.myshopify.com"  # the operator's Foxdeli account with a wrong password, a revoked token
MERCHANT = "merchant-store.myshopify.com"  # a parcelLab account its merchant connected, with a stale token
NOBODY = "nobody-store.myshopify.com"  # installed, no account yet


@pytest.fixture
def world() -> Iterator[tuple[FoxdeliStandIn, ParcellabStandIn, ShopifyAdminStandIn]]:
    with FoxdeliStandIn() as fox, ParcellabStandIn() as pl, ShopifyAdminStandIn(orders=0, shop_domain=GOOD, shop_name="Good") as shopify:
        add_merchant_accounts(fox, pl)
        yield fox, pl, shopify
    close_thread_dbs()


def write_config(tmp_path: Path, fox: FoxdeliStandIn, pl: ParcellabStandIn, shopify: ShopifyAdminStandIn,
                 wrong_password: str = "not-the-password") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[shopify]\napi_secret = "{SECRET}"\ntoken_encryption_key = "{generate_key()}"\n'
        f'[database]\npath = "{tmp_path / "c.db"}"\n'
        f'[target]\nkind = "foxdeli"\nbase_url = "{fox.url}"\nusername = "{FOX_A["username"]}"\n'
        f'password = "{FOX_A["password"]}"\neshop_id = "{ESHOP_A}"\nparcellab_base_url = "{pl.url}"\ntimeout_s = 3\n'
        f'[shops."{GOOD}"]\neshop_id = "{ESHOP_A}"\naccess_token = "shpat_standin"\nadmin_url = "{shopify.url}"\n'
        f'[shops."{WRONG}"]\npassword = "{wrong_password}"\naccess_token = "shpat_revoked"\nadmin_url = "{shopify.url}"\n'
    )
    return config


def checked(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["check", "--config", str(config), *args], env={"CONNECTOR_CONFIG": ""})


def verdicts(output: str) -> dict[str, list[str]]:
    """area → its lines (without the area)."""
    out: dict[str, list[str]] = {}
    for line in output.strip().splitlines():
        level, area, message = line.split(None, 2)
        out.setdefault(area, []).append(f"{level} {message}")
    return out


def prepared(config: Path, fox: FoxdeliStandIn, pl: ParcellabStandIn) -> None:
    settings = load_settings(config, env={})
    prepare_store(settings)
    db = connect(settings["database.path"])
    for shop in (MERCHANT, NOBODY):  # installed, but no Admin API token kept (webhooks only)
        add_shop(db, shop, "oauth")
    connect_account(db, settings, MERCHANT, "parcellab", **{**PL_C, "token": "pl-stale-token"})
    db.close()


def test_check_tries_every_shops_accounts_for_real_and_says_what_to_fix(tmp_path: Path, world) -> None:
    fox, pl, shopify = world
    config = write_config(tmp_path, fox, pl, shopify)
    prepared(config, fox, pl)
    result = checked(config)
    assert result.exit_code == 1, result.output
    found = verdicts(result.output)
    assert found["configuration"] == [f"ok loads from {config}"]
    assert found["database"] == [f"ok {tmp_path / 'c.db'} opens and is up to date"]
    shopify_lines, tracking = found["shopify"], found["tracking"]
    assert f"ok {GOOD}: Admin API answered (shop 'Good')" in shopify_lines
    assert any(line.startswith(f"FAIL {WRONG}: Shopify Admin API HTTP 401: the access token was refused") for line in shopify_lines)
    assert any(line.startswith(f"warn {MERCHANT}: no Admin API access") for line in shopify_lines)
    assert f"ok {GOOD}: Foxdeli account (assigned in the configuration): Foxdeli accepted the API user, and it may use this e-shop." in tracking
    wrong = next(line for line in tracking if WRONG in line)
    assert wrong.startswith(f"FAIL {WRONG}: Foxdeli account (assigned in the configuration): Foxdeli refused the credentials")
    assert wrong.endswith(f'fix [shops."{WRONG}"] in the configuration (the worker follows the file)')
    merchant = next(line for line in tracking if MERCHANT in line)
    assert merchant.startswith(f"FAIL {MERCHANT}: parcelLab account (connected by its merchant): parcelLab refused the credentials")
    assert "its merchant fixes the credentials in the app" in merchant
    assert f"warn {NOBODY}: no tracking account" in next(line for line in tracking if NOBODY in line)
    assert "not-the-password" not in result.output and "pl-stale-token" not in result.output and "shpat_revoked" not in result.output
    assert not fox.invalid_requests and not pl.orders  # nothing was written at a platform
    only = checked(config, "--shop", GOOD)
    assert only.exit_code == 0, only.output  # the good shop alone passes
    assert WRONG not in only.output and MERCHANT not in only.output


def test_check_passes_when_everything_works(tmp_path: Path, world) -> None:
    fox, pl, shopify = world
    config = write_config(tmp_path, fox, pl, shopify, wrong_password=FOX_A["password"])
    config.write_text(config.read_text().replace('access_token = "shpat_revoked"', 'access_token = "shpat_standin"'))
    prepare_store(load_settings(config, env={}))
    result = checked(config)
    assert result.exit_code == 1  # both shops' tokens open the same shop: one of them is wrong
    assert f"FAIL {WRONG}: the token opens another shop, {GOOD}: give this shop its own token" in verdicts(result.output)["shopify"]
    shopify.shop_domain = None  # a stand-in that does not say its domain
    result = checked(config)
    assert result.exit_code == 0, result.output
    assert all(line.startswith("ok ") for line in result.output.strip().splitlines()), result.output


def test_a_database_that_cannot_serve_fails_the_check_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    config = tmp_path / "c.toml"
    config.write_text(f'[shopify]\napi_secret = "s"\n[database]\npath = "{text}"\n')
    result = checked(config)
    assert result.exit_code == 1
    assert verdicts(result.output)["database"] == [f"FAIL {text} is not a SQLite database: correct database.path"]


def test_a_broken_configuration_is_one_failing_verdict(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[worker]\nconcurrency = 2.5\n")
    result = checked(config)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"FAIL  configuration  worker.concurrency: expected a whole number, got 2.5 (from {config})"]


@pytest.mark.parametrize("toml, message", [
    ('[target]\nkind = "foxdeli"\nall_shops = true\nusername = "u"\neshop_id = "12345678-1234-1234-1234-1234567890ab"\n',
     "configuration: target.password is empty, and the Foxdeli account of [target] needs it: target.all_shops sends every "
     "shop's orders there (set it in the config file or CONNECTOR_TARGET_PASSWORD)"),
    ('[shops."one.myshopify.com"]\nkind = "parcellab"\ntoken = "t"\n',
     'configuration: target.account is empty, and the parcelLab account of [shops."one.myshopify.com"] needs it (set '
     "account in that entry, or target.account / CONNECTOR_TARGET_ACCOUNT)"),
    ('[target]\nkind = "http"\nall_shops = true\n',
     "configuration: target.base_url is empty, and the http account of [target] needs it: target.all_shops sends every "
     "shop's orders there (set it in the config file or CONNECTOR_TARGET_BASE_URL)"),
])
@pytest.mark.parametrize("command", [["worker", "--once"], ["serve"], ["run"]], ids=" ".join)
def test_an_account_configured_for_use_without_its_credentials_stops_the_start(tmp_path: Path, toml: str, message: str,
                                                                             command: list[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[shopify]\napi_secret = "s"\n[database]\npath = "{tmp_path / "c.db"}"\n' + toml)
    result = CliRunner().invoke(main, [*command, "--config", str(config)], env={"CONNECTOR_CONFIG": ""})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {message}"]
    assert not (tmp_path / "c.db").exists()  # refused before anything started


def test_an_account_nobody_uses_needs_no_credentials(tmp_path: Path) -> None:
    """[target] without target.all_shops serves no shop: merchants connect their own."""
    config = tmp_path / "c.toml"
    config.write_text(f'[shopify]\napi_secret = "s"\n[database]\npath = "{tmp_path / "c.db"}"\n[target]\nkind = "foxdeli"\n')
    result = CliRunner().invoke(main, ["worker", "--once", "--config", str(config)], env={"CONNECTOR_CONFIG": ""})
    assert result.exit_code == 0, result.output
