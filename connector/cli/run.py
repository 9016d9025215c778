"""Running the connector: ``run`` (web and worker together), ``serve`` (web), ``worker``."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
from pathlib import Path

import click

from connector.cli.common import DEMO_SHOP, check_store, config_option, require_accounts
from connector.config import Settings
from connector.errors import StorageError

BIND_HELP = "Address to listen on, HOST:PORT (default: server.bind)."
WORKERS_HELP = "gunicorn worker processes (default: server.workers)."


def check_bind(bind: str) -> None:
    """Stop in one line when gunicorn could not listen on ``bind`` (it would retry for five
    seconds and end in a screen of errors). A unix: or fd:// address is left to gunicorn."""
    if bind.startswith(("unix:", "fd://")):
        return
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 <= int(port) < 65536:
        raise click.ClickException(
            f"cannot listen on {bind!r}: expected HOST:PORT, e.g. 127.0.0.1:8000 (--bind or server.bind)"
        )
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host.strip("[]") or "0.0.0.0", int(port), type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: TIME_WAIT is no obstacle
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}: {_bind_problem(exc)}") from None


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is in use (another connector, or another program, listens there): stop it, or choose another address with --bind or server.bind"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that host is not an address of this machine (try 127.0.0.1, or 0.0.0.0 for every address)"
    if exc.errno == errno.EACCES:
        return "ports below 1024 need privileges: choose a port above 1024 and put a proxy in front"
    return str(exc.strerror or exc)


@click.command()
@config_option
@click.option("--bind", default=None, help=BIND_HELP)
@click.option("--workers", type=click.IntRange(1, 256), default=None, help=WORKERS_HELP)
def serve(settings: Settings, config_path: str | None, bind: str | None, workers: int | None) -> None:
    """Run the web app (webhooks, OAuth, the merchant's page, admin API, metrics) under gunicorn,
    with connector/gunicorn_conf.py. Needs shopify.api_secret. Stops in one line when the
    address is taken or the database cannot be opened; SIGTERM finishes requests in flight."""
    settings.require("shopify.api_secret")
    require_accounts(settings)
    bind = bind or settings["server.bind"]
    check_bind(bind)
    check_store(settings, create=True)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers or settings["server.workers"]),
        "--config",
        "python:connector.gunicorn_conf",
        "connector.app:create_app()",
    ]
    if config_path:
        os.environ["CONNECTOR_CONFIG"] = str(Path(config_path).resolve())
    os.execv(sys.executable, argv)


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Deliver everything that is due, then exit.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Orders delivered at once (default: worker.concurrency).",
)
def worker(settings: Settings, config_path: str | None, once: bool, concurrency: int | None) -> None:
    """Deliver queued events to the target until stopped (Ctrl-C or SIGTERM finish in-flight work).

    The config file is read again when it changes, within worker.poll_interval_s: fix a
    target's settings, then `connector replay`, without a restart (where the database is, the
    concurrency and the metrics address need one). A file that no longer loads is logged and
    the settings in force are kept.

    Stops in one line when the database cannot be opened; with --once also when it keeps
    failing (nothing is lost: every delivery step is its own transaction).
    """
    from dataclasses import replace

    from connector.logs import setup_logging
    from connector.worker.gc_tuning import tune_gc_for_worker
    from connector.worker.loop import Worker
    from connector.worker.reload import SettingsWatcher

    if concurrency:
        settings = replace(settings, values={**settings.values, "worker.concurrency": concurrency})
    require_accounts(settings)
    check_store(settings, create=True)
    setup_logging(secrets=settings.secret_values())
    watcher = None if once else SettingsWatcher(settings, config_path, interval_s=settings["worker.poll_interval_s"])
    runner = Worker(settings, watcher=watcher)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    if not once:  # a long-lived process (--once also runs inside the test suite's process)
        tune_gc_for_worker()
    try:
        stats = runner.run(once=once)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        click.echo(
            f"triaged {stats.triaged} events; delivered {stats.delivered} orders, unchanged {stats.unchanged}, "
            f"retrying {stats.retrying}, dead-lettered {stats.dead}"
        )


@click.command()
@config_option
@click.option("--bind", default=None, help=BIND_HELP)
@click.option("--workers", type=click.IntRange(1, 256), default=None, help=WORKERS_HELP)
def run(settings: Settings, config_path: str | None, bind: str | None, workers: int | None) -> None:
    """Run web and worker together (the quick start); Ctrl-C stops both.

    Without shopify.api_secret this starts in demo mode: a development secret is generated and
    kept in the database, and the shop demo-shop.myshopify.com is registered, so that
    `connector simulate` works at once. Configure a real secret before connecting a shop.
    With --bind, tell `connector simulate` the address too (--url, or CONNECTOR_SERVER_BIND).
    """
    from dataclasses import replace

    from connector.cli.runner import run_web_and_worker

    changed = {"server.bind": bind, "server.workers": workers}
    settings = replace(settings, values={**settings.values, **{k: v for k, v in changed.items() if v}})
    require_accounts(settings)
    check_bind(settings["server.bind"])
    check_store(settings, create=True)
    sys.exit(run_web_and_worker(settings, config_path, DEMO_SHOP))
