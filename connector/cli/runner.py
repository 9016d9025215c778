"""``connector run``: web and worker as two child processes, stopped together.

Demo mode (no ``shopify.api_secret``): generate a development secret once, keep it in the
database, and register a demo shop, so the quick start needs no Shopify account.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time

from connector.app import prepare_store
from connector.cli.simulate import DEV_SECRET_KEY
from connector.config import Settings
from connector.logs import setup_logging
from connector.store.app_state import get_or_create_value
from connector.store.db import db_for, location_of, redact_url
from connector.store.shops import add_shop

log = logging.getLogger("connector.run")


def _child_env(settings: Settings, config_path: str | None, demo_shop: str) -> dict[str, str]:
    env = dict(os.environ)
    if config_path:
        env["CONNECTOR_CONFIG"] = os.path.abspath(config_path)
    # `connector run --bind/--workers`: the children read them as settings like any other.
    env["CONNECTOR_SERVER_BIND"] = settings["server.bind"]
    env["CONNECTOR_SERVER_WORKERS"] = str(settings["server.workers"])
    if not settings["shopify.api_secret"]:
        db = db_for(settings)
        env["CONNECTOR_SHOPIFY_API_SECRET"] = get_or_create_value(db, DEV_SECRET_KEY, lambda: secrets.token_urlsafe(32))
        add_shop(db, demo_shop, "demo")
        # The quick start has one shop and the dry-run target: that target serves it.
        env.setdefault("CONNECTOR_TARGET_ALL_SHOPS", "1")
        log.warning(
            "demo mode: no shopify.api_secret configured, using a generated development secret "
            "(kept in %s) and the demo shop %s; `connector simulate` posts a signed sample order",
            redact_url(location_of(settings)),
            demo_shop,
        )
    return env


def run_web_and_worker(settings: Settings, config_path: str | None, demo_shop: str) -> int:
    """Start ``serve`` and ``worker``; on Ctrl-C/SIGTERM or when either exits, stop both."""
    setup_logging(secrets=settings.secret_values())
    prepare_store(settings)
    env = _child_env(settings, config_path, demo_shop)
    base = [sys.executable, "-m", "connector.cli"]
    children = [
        subprocess.Popen([*base, "serve"], env=env),
        subprocess.Popen([*base, "worker"], env=env),
    ]
    log.info("connector running: webhooks at http://%s/webhooks/shopify (Ctrl-C stops)", settings["server.bind"])
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    codes = [child.returncode for child in children]
    log.info("connector stopped (exit codes %s)", codes)
    return 0 if stopping else max(abs(c) for c in codes) or 1
