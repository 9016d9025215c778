"""End to end through real processes: gunicorn, `connector worker`, `connector run`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

from tests.processes import connector_env, free_port, start_connector, stop, wait_for, wait_http
from tests.support import (
    DOCS_ORDER,
    ORDER_ID,
    SECRET,
    SHOP,
    file_journal,
    fixture_bytes,
    query,
    scalar,
    webhook_headers,
)

pytestmark = pytest.mark.slow


def test_serve_under_gunicorn_stores_signed_webhooks(tmp_path):
    port = free_port()
    db_path = tmp_path / "c.db"
    env = connector_env(shopify_api_secret=SECRET, database_path=db_path, server_workers=2)
    server = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path, tmp_path / "serve.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        body = fixture_bytes(DOCS_ORDER)
        url = f"http://127.0.0.1:{port}/webhooks/shopify"
        with requests.Session() as http:
            answers = [http.post(url, data=body, headers=webhook_headers(body, webhook_id=f"w{n}")).status_code for n in range(20)]
            forged = http.post(url, data=body, headers={**webhook_headers(body), "X-Shopify-Hmac-Sha256": "AAAA"})
        assert answers == [200] * 20 and forged.status_code == 401
        assert file_journal(str(db_path)) == 20  # answered from the journal; a worker files them
        assert scalar(str(db_path), "SELECT count(*) FROM events") == 20
        assert requests.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        requests.get(f"http://127.0.0.1:{port}/auth/callback?code=one-time-code&hmac=x")  # refused: not configured
    finally:
        assert stop(server) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "Booting worker" in log and '"POST /webhooks/shopify" 200' in log
    assert "one-time-code" not in log  # access logs carry paths, never query strings


def test_serve_refuses_to_start_without_a_secret(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "serve"], env=connector_env(), cwd=tmp_path,
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "shopify.api_secret is required" in result.stderr
    assert result.stderr.count("\n") <= 2  # one clear line, no traceback


def test_worker_killed_mid_delivery_is_taken_over_after_its_lease(tmp_path, app, post, settings, db_path, target):
    """A worker dies (SIGKILL) while the target is answering; a second one delivers after the lease."""
    post(fixture_bytes(DOCS_ORDER))
    target.fail_next(1, delay_s=3.0)  # the first delivery hangs long enough to kill the worker
    env = connector_env(
        shopify_api_secret=SECRET, database_path=db_path, target_kind="http", target_all_shops="1", target_base_url=target.url,
        target_timeout_s=10, worker_lease_s=2, worker_poll_interval_s=0.1,
    )
    (tmp_path / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    first = start_connector(["worker"], env, tmp_path, tmp_path / "w1.log")
    try:
        assert wait_for(lambda: len(target.requests) >= 1, timeout=20)
        stop(first, signal.SIGKILL)
    finally:
        stop(first, signal.SIGKILL)
    row = tuple(query(db_path, "SELECT lease_owner, status FROM orders")[0].values())
    assert row[0] is not None and row[1] == "pending"  # leased by the dead worker, not delivered
    second = start_connector(["worker"], env, tmp_path, tmp_path / "w2.log")
    try:
        assert wait_for(
            lambda: scalar(db_path, "SELECT status FROM orders") == "synced", timeout=20
        ), (tmp_path / "w2.log").read_text()
    finally:
        stop(second)
    # The first request may have reached the target before the kill: still exactly one order there.
    assert list(target.orders()) == [f"/orders/{SHOP}/{ORDER_ID}"]


def test_quick_start_run_simulate_payloads(tmp_path):
    """The README's path: `connector run`, then `connector simulate`, then `connector payloads`."""
    port = free_port()
    env = connector_env(server_bind=f"127.0.0.1:{port}", worker_poll_interval_s=0.2)
    runner = start_connector(["run"], env, tmp_path, tmp_path / "run.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        simulate = subprocess.run(
            [sys.executable, "-m", "connector.cli", "simulate"], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=30,
        )
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        assert "→ 200" in simulate.stdout

        def recorded() -> str:
            return subprocess.run(
                [sys.executable, "-m", "connector.cli", "payloads", "--limit", "1"], env=env, cwd=tmp_path,
                capture_output=True, text=True, timeout=30,
            ).stdout

        assert wait_for(lambda: ORDER_ID in recorded(), timeout=20)
        payload = json.loads(recorded().split("\n", 1)[1])
        assert payload["order_id"] == int(ORDER_ID) and payload["total_price"] == "359.97"
    finally:
        code = stop(runner, signal.SIGINT)
    log = (tmp_path / "run.log").read_text()
    assert code == 0, log
    assert "demo mode" in log and "connector stopped" in log
    assert SECRET not in log
