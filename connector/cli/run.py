"""Running the connector: ``run`` (web and worker together), ``serve`` (web), ``worker``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from connector.cli.common import DEMO_SHOP, config_option
from connector.config import Settings


@click.command()
@config_option
@click.option("--bind", default=None, help="Address to listen on, HOST:PORT (default: server.bind).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: server.workers).")
def serve(settings: Settings, config_path: str | None, bind: str | None, workers: int | None) -> None:
    """Run the web app (webhooks, OAuth, admin API, metrics) under gunicorn."""
    settings.require("shopify.api_secret")
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", bind or settings["server.bind"],
        "--workers", str(workers or settings["server.workers"]),
        "--config", "python:connector.gunicorn_conf",
        "connector.app:create_app()",
    ]
    if config_path:
        os.environ["CONNECTOR_CONFIG"] = str(Path(config_path).resolve())
    os.execv(sys.executable, argv)


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Deliver everything that is due, then exit.")
@click.option("--concurrency", type=int, default=None, help="Orders delivered at once (default: worker.concurrency).")
def worker(settings: Settings, config_path: str | None, once: bool, concurrency: int | None) -> None:
    """Deliver queued events to the target until stopped (Ctrl-C or SIGTERM finish in-flight work)."""
    from dataclasses import replace

    from connector.logs import setup_logging
    from connector.worker.loop import Worker

    if concurrency:
        settings = replace(settings, values={**settings.values, "worker.concurrency": concurrency})
    setup_logging(secrets=settings.secret_values())
    runner = Worker(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    stats = runner.run(once=once)
    if once:
        click.echo(
            f"triaged {stats.triaged} events; delivered {stats.delivered} orders, unchanged {stats.unchanged}, "
            f"retrying {stats.retrying}, dead-lettered {stats.dead}"
        )


@click.command()
@config_option
def run(settings: Settings, config_path: str | None) -> None:
    """Run web and worker together (the quick start); Ctrl-C stops both.

    Without shopify.api_secret this starts in demo mode: a development secret is generated and
    kept in the database, and the shop demo-shop.myshopify.com is registered, so that
    `connector simulate` works at once. Configure a real secret before connecting a shop.
    """
    from connector.cli.runner import run_web_and_worker

    sys.exit(run_web_and_worker(settings, config_path, DEMO_SHOP))
