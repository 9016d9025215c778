"""Metrics as an operator reads them (issues 11.6 and 12.10): summed over every gunicorn worker,
the worker's on by default and on loopback, and no shop domain unless the operator opts in."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
import requests

from connector.app import create_app
from connector.config import load_settings
from connector.metrics import label_shops
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs
from tests.conftest import DOCS_ORDER, SECRET, live_order, webhook_headers
from tests.processes import connector_env, free_port, start_connector, stop, wait_for, wait_http
from tests.support import SHOP, auth, custom_app, make_settings

STORED = re.compile(r'^connector_webhooks_total\{outcome="stored",reason=""\} (\S+)$', re.M)


def stored_count(text: str) -> float:
    match = STORED.search(text)
    return float(match.group(1)) if match else 0.0


def gunicorn_workers(master_pid: int) -> list[psutil.Process]:
    """gunicorn's worker processes (`connector serve` execs gunicorn: the child is the master)."""
    return list(psutil.Process(master_pid).children(recursive=True))


@pytest.mark.slow
def test_serve_sums_counters_over_all_its_workers_and_cleans_up_after_itself(tmp_path: Path) -> None:
    """Without the shipped multiprocess setup each scrape showed one worker's count (9 → 1 → 9)."""
    port, private_tmp = free_port(), tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**connector_env(shopify_api_secret=SECRET, database_path=tmp_path / "c.db", server_workers=3),
           "TMPDIR": str(private_tmp)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        assert wait_for(lambda: len(gunicorn_workers(server.pid)) == 3, timeout=20)
        for n in range(30):  # a connection each: gunicorn spreads them over its workers
            body = live_order(DOCS_ORDER, id=820982911946154508 + n)
            assert requests.post(f"{base}/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
        scrapes = [stored_count(requests.get(f"{base}/metrics").text) for _ in range(9)]
        assert scrapes == [30.0] * 9
        assert [p.name for p in private_tmp.iterdir()] and all(p.name.startswith("connector-metrics-") for p in private_tmp.iterdir())
        victim = gunicorn_workers(server.pid)[0]  # a worker dies; gunicorn starts another
        os.kill(victim.pid, signal.SIGKILL)
        assert wait_for(lambda: victim.pid not in [p.pid for p in gunicorn_workers(server.pid)]
                        and len(gunicorn_workers(server.pid)) == 3, timeout=20)
        assert [stored_count(requests.get(f"{base}/metrics").text) for _ in range(6)] == [30.0] * 6  # its count stays
    finally:
        assert stop(server) == 0
    assert list(private_tmp.iterdir()) == []  # the private directory went with the server


@pytest.mark.slow
def test_an_operators_metrics_directory_is_emptied_of_old_counts_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"old counts of a previous server")
    (directory / "notes.txt").write_text("not ours")
    port = free_port()
    env = {**connector_env(shopify_api_secret=SECRET, database_path=tmp_path / "c.db"), "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    server = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path, tmp_path / "serve.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        assert not (directory / "counter_999999.db").exists()
        assert (directory / "notes.txt").exists()
        assert requests.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        assert stop(server) == 0
    assert directory.exists()  # the operator's own directory stays (systemd removes its runtime directory)


def test_the_workers_metrics_are_on_by_default_and_on_loopback() -> None:
    settings = load_settings(env={})
    assert (settings["worker.metrics_port"], settings["worker.metrics_host"]) == (9101, "127.0.0.1")
    assert settings["metrics.shop_labels"] is False


@pytest.mark.slow
def test_the_worker_listens_for_metrics_on_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    env = connector_env(shopify_api_secret=SECRET, database_path=tmp_path / "c.db", worker_metrics_port=port)
    worker = start_connector(["worker"], env, tmp_path, tmp_path / "worker.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics")
        listening = [c.laddr for c in psutil.Process(worker.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", port)]
    finally:
        assert stop(worker) == 0


@pytest.mark.slow
def test_a_second_worker_whose_metrics_port_is_taken_still_delivers(tmp_path: Path) -> None:
    port = free_port()
    env = connector_env(shopify_api_secret=SECRET, database_path=tmp_path / "c.db", worker_metrics_port=port)
    first = start_connector(["worker"], env, tmp_path, tmp_path / "first.log")
    second = None
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics")
        second = start_connector(["worker"], env, tmp_path, tmp_path / "second.log")
        assert wait_for(lambda: "worker metrics cannot listen on 127.0.0.1" in (tmp_path / "second.log").read_text(), timeout=20)
        time.sleep(0.5)
        assert second.poll() is None  # still running, delivering without metrics
    finally:
        assert stop(first) == 0
        if second is not None:
            assert stop(second) == 0
    assert "Traceback" not in (tmp_path / "second.log").read_text()


def _metrics_after_a_resync(tmp_path: Path, shopify: ShopifyAdminStandIn, **values: object) -> str:
    tmp_path.mkdir()
    settings = make_settings(tmp_path, custom_app(shopify.url), **{"worker.reconcile_interval_s": 0, **values})
    client = create_app(settings=settings).test_client()
    try:
        answer = client.post("/admin/resync", json={"shop": SHOP, "order_ids": [str(shopify.order_ids()[0])]}, headers=auth())
        assert answer.status_code == 202, answer.get_json()
        job = answer.get_json()["job_id"]
        assert wait_for(lambda: client.get(f"/admin/jobs/{job}", headers=auth()).get_json()["status"] == "done", timeout=30)
        return client.get("/metrics").get_data(as_text=True)
    finally:
        close_thread_dbs()


def test_metrics_name_no_shop_unless_the_operator_opts_in(tmp_path: Path) -> None:
    with ShopifyAdminStandIn(orders=5, restore_rate=5000) as shopify:
        try:
            hidden = _metrics_after_a_resync(tmp_path / "a", shopify)
            assert SHOP not in hidden
            assert re.search(r'^connector_shopify_requests_total\{outcome="ok",shop=""\} [1-9]', hidden, re.M), hidden
            shown = _metrics_after_a_resync(tmp_path / "b", shopify, **{"metrics.shop_labels": True})
            assert re.search(rf'^connector_shopify_requests_total\{{outcome="ok",shop="{re.escape(SHOP)}"\}} [1-9]', shown, re.M)
        finally:
            label_shops(False)


def test_reading_the_gunicorn_config_changes_nothing_in_the_process() -> None:
    """Only gunicorn's master sets up the directory (on_starting): a process that merely imports
    the settings (a test, a tool) must keep its own metrics."""
    import importlib

    import connector.gunicorn_conf

    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    importlib.reload(connector.gunicorn_conf)
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") == before
