"""CLI twins of the operator API: resync, reconcile, jobs; every command has --help."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.store.db import close_thread_dbs
from tests.ops_support import SECRET, SHOP
from connector.sandbox.shopify_admin import ShopifyAdminStandIn

pytestmark = pytest.mark.both_engines


@pytest.fixture
def config(tmp_path: Path):
    with ShopifyAdminStandIn(orders=30, restore_rate=5000) as shopify:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[shopify]\napi_secret = "{SECRET}"\npage_size = 10\n[database]\npath = "{tmp_path / "c.db"}"\n'
            f'[worker]\nreconcile_interval_s = 0\n'
            f'[shops."{SHOP}"]\naccess_token = "shpat_standin"\nadmin_url = "{shopify.url}"\n',
            encoding="utf-8",
        )
        yield str(path)
        close_thread_dbs()


def test_resync_shows_progress_and_the_outcome(config: str) -> None:
    result = CliRunner().invoke(main, ["resync", "--config", config, "--shop", SHOP, "--since", "2020-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "resync ops-test.myshopify.com): done" in result.output
    assert "fetched 30, queued 30" in result.output
    assert "older than 60 days" in result.output
    jobs = CliRunner().invoke(main, ["jobs", "--config", config])
    assert "resync" in jobs.output and "done" in jobs.output


@pytest.mark.parametrize(
    "args, message",
    [(["--shop", SHOP], "exactly one of"), (["--shop", "bad", "--order", "1"], "myshopify.com"),
     (["--shop", SHOP, "--order", "x1"], "numeric"), (["--shop", SHOP, "--since", "soon"], "ISO-8601")],
)
def test_resync_refuses_bad_input(config: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["resync", "--config", config, *args])
    assert result.exit_code == 2 and message in result.output


def test_reconcile_reports_recovered_orders(config: str) -> None:
    result = CliRunner().invoke(main, ["reconcile", "--config", config, "--shop", SHOP, "--window", "60d"])
    assert result.exit_code == 0, result.output
    assert "recovered 30 order(s)" in result.output
    again = CliRunner().invoke(main, ["reconcile", "--config", config, "--shop", SHOP, "--window", "60d"])
    assert "recovered 0 order(s)" in again.output
