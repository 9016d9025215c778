"""``connector check``: the configuration, the database, and each shop's Shopify and tracking
accounts, tried for real — one line of verdict each, and what to fix."""

from __future__ import annotations

import sys

import click

from connector.cli.common import config_path_option
from connector.config import load_settings
from connector.errors import ConfigError


@click.command()
@config_path_option
@click.option("--shop", default=None, help="Only this shop (name.myshopify.com).")
def check(config_path: str | None, shop: str | None) -> None:
    """Check everything the connector needs, for real, and say what to fix.

    \b
    configuration  it loads; every account configured for use has its credentials
    database       it opens, is the connector's, and is up to date
    shopify        per shop: its Admin API token answers a cheap query (shop { name })
    tracking       per shop: the account its orders go to accepts its credentials —
                   Foxdeli's token call and e-shop look-up, parcelLab's authenticated read,
                   the http endpoint answering; nothing is written at any platform

    One line per verdict: ok, warn (works, but look) or FAIL (something is wrong, and how to
    fix it). The exit status is 1 when any check fails, else 0.
    """
    from connector.checks import Verdict, run_checks

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(Verdict("fail", "configuration", str(exc)).line())
        sys.exit(1)
    failed = False
    for verdict in run_checks(settings, shop.lower() if shop else None):
        click.echo(verdict.line())
        failed = failed or verdict.level == "fail"
    sys.exit(1 if failed else 0)
