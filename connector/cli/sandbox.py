"""``connector sandbox``: Shopify, Foxdeli and parcelLab stand-ins for a first hour without accounts."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the stand-ins load when the command runs
    from connector.sandbox.server import Request, Response
    from connector.sandbox.stack import Sandbox

DEFAULT_CONFIG = "sandbox/config.toml"
TARGETS = ("foxdeli", "parcellab")


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The configuration to write, pointing the connector at the stand-ins (its "
    "database and sample bodies go beside it).",
)
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default="foxdeli",
    show_default=True,
    help="The tracking platform the connector delivers to.",
)
@click.option(
    "--orders",
    type=click.IntRange(0, 5000),
    default=40,
    show_default=True,
    help="Orders the Shopify stand-in holds for `connector resync`.",
)
@click.option(
    "--flaky",
    type=click.FloatRange(0, 0.9),
    default=0.0,
    show_default=True,
    help="Share of the platforms' answers that are 503 with Retry-After: watch the retries.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="Added to every answer of the platforms.",
)
def sandbox(config_path: Path, target: str, orders: int, flaky: float, latency_ms: int) -> None:
    """Start stand-ins for Shopify, Foxdeli and parcelLab on 127.0.0.1 and write a ready
    configuration, so the real delivery path can be watched without an account.

    The stand-ins are strict: they refuse what the platforms would (fields, enums, auth). Every
    request they receive is printed here, one line each. Run the connector against them in
    another terminal (the lines to type are printed), post the sample order and its
    fulfillment, and see the order, its parcels, the token calls and — with --flaky — the
    retries. Ctrl-C stops the sandbox and prints what each platform holds. The configuration
    and the database beside it are rewritten at each start (the stand-ins begin empty).
    """
    from connector.sandbox.stack import SandboxError, describe, start_sandbox, summary

    printing = threading.Lock()

    def observe(name: str, request: Request, response: Response) -> None:
        with printing:
            click.echo(describe(name, request, response))

    try:
        box = start_sandbox(config_path, target, orders, flaky, latency_ms / 1000, observe)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        _introduce(box)
        stopped.wait()
    finally:
        box.stop()
    click.echo("\nsandbox stopped; the platforms held:")
    for line in summary(box):
        click.echo(f"  {line}")


def _introduce(box: Sandbox) -> None:
    from connector.sandbox.stack import SHOP

    config = box.config_path
    click.echo("Sandbox ready: stand-ins on 127.0.0.1, nothing leaves this machine.")
    click.echo(f"  Shopify Admin API  {box.shopify.url}  ({len(box.shopify.orders)} orders for `connector resync`)")
    click.echo(f"  Foxdeli            {box.foxdeli.url}  (API user {box.foxdeli.username})")
    click.echo(f"  parcelLab          {box.parcellab.url}")
    click.echo(f"Configuration: {config}  (delivering to {box.target}; web app on {box.bind})")
    click.echo("\nIn another terminal:")
    click.echo(f"  connector run --config {config}")
    click.echo("and in a third:")
    click.echo(f"  connector simulate --config {config} {box.files['order']}        # an order")
    click.echo(f"  connector simulate --config {config} {box.files['fulfillment']}  # its fulfillment: a parcel")
    click.echo(f"  connector status --config {config} --order 820982911946154508")
    click.echo(f"  connector resync --config {config} --shop {SHOP} --since 2020-01-01T00:00:00Z")
    click.echo(f"Worker metrics: http://127.0.0.1:{box.metrics_port}/metrics. Ctrl-C stops the sandbox.\n")
