"""CLI twins of the operator API: resync, reconcile, jobs; every command has --help."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs
from tests.support import SHOP, custom_app, make_settings

pytestmark = pytest.mark.both_engines


@pytest.fixture
def config(tmp_path: Path):
    with ShopifyAdminStandIn(orders=30, restore_rate=5000) as shopify:
        settings = make_settings(
            tmp_path, shop=custom_app(shopify.url),
            **{"shopify.page_size": 10, "worker.reconcile_interval_s": 0, "database.path": str(tmp_path / "c.db")},
        )
        yield settings.source
        close_thread_dbs()


def test_resync_shows_progress_and_the_outcome(config: str) -> None:
    result = CliRunner().invoke(main, ["resync", "--config", config, "--shop", SHOP, "--since", "2020-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert f"resync {SHOP}): done" in result.output
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
