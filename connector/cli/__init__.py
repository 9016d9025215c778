"""The ``connector`` command: a thin click layer over the library.

One module per area, each a set of plain click commands added to :func:`main` here:
:mod:`.run` (run, serve, worker), :mod:`.operate` (simulate, status, failures, replay, resync,
reconcile, jobs, payloads, config), :mod:`.shops` (shops, register-webhooks), :mod:`.privacy`,
:mod:`.db` (db backup, restore, migrate), :mod:`.sandbox` (stand-ins for a first hour),
:mod:`.check` (everything the connector needs, tried for real).
Every command takes ``--config PATH`` (else ``$CONNECTOR_CONFIG``, else ./config.toml, else the
built-in defaults) and prints one clear line when the configuration is wrong.
"""

from __future__ import annotations

import click

from connector.cli import operate
from connector.cli.check import check
from connector.cli.db import db
from connector.cli.privacy import privacy
from connector.cli.run import run, serve, worker
from connector.cli.sandbox import sandbox
from connector.cli.shops import register_webhooks, shops


@click.group()
@click.version_option(package_name="shopify-tracking-connector")
def main() -> None:
    """Deliver every Shopify order to your order-tracking platform, once.

    Quick start: `connector run` (web + worker on built-in defaults), then in another terminal
    `connector simulate` to post a signed sample order, and `connector payloads` to see what
    the dry-run target would have sent. To watch real Foxdeli or parcelLab deliveries without
    an account: `connector sandbox`.
    """


for command in (
    run,
    serve,
    worker,
    operate.simulate,
    operate.status,
    operate.failures,
    operate.replay,
    operate.resync,
    operate.reconcile,
    operate.jobs,
    operate.payloads,
    operate.show_config,
    shops,
    register_webhooks,
    privacy,
    db,
    sandbox,
    check,
):
    main.add_command(command)
