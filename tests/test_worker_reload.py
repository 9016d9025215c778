"""A running worker follows its config file (issue 12, item 9): a replay after fixing the
target's configuration works without a restart; a broken new file keeps the settings in force."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from connector.cli import main
from connector.config import load_settings
from connector.sandbox.http_target import HttpTargetStandIn
from connector.store.db import connect
from connector.worker.reload import SettingsWatcher
from tests.conftest import DOCS_ORDER, ORDER_ID, SECRET, SHOP, live_order, webhook_headers
from tests.processes import connector_env, free_port, start_connector, stop, wait_for, wait_http

ORDER_PATH = f"/orders/{SHOP}/{ORDER_ID}"


def write_config(path: Path, base_url: str, database: Path, extra: str = "") -> None:
    path.write_text(
        f'[shopify]\napi_secret = "{SECRET}"\n[database]\npath = "{database}"\n'
        f'[target]\nkind = "http"\nall_shops = true\nbase_url = "{base_url}"\ntimeout_s = 2\n'
        f'[retry]\nfirst_delay_s = 0.01\nin_process_attempts = 1\n'
        f'[worker]\npoll_interval_s = 0.1\nmetrics_port = 0\nreconcile_interval_s = 0\n{extra}'
        f'[shops."{SHOP}"]\n'
    )


def dead_letters(database: Path) -> list[tuple[str, str]]:
    db = connect(str(database))
    try:
        return [tuple(r) for r in db.execute("SELECT order_id, reason FROM failures WHERE replayed_at IS NULL").fetchall()]
    finally:
        db.close()


@pytest.mark.slow
def test_a_replay_after_fixing_the_target_works_without_restarting_the_worker(tmp_path: Path) -> None:
    database, config = tmp_path / "c.db", tmp_path / "config.toml"
    with HttpTargetStandIn() as target:
        target.reject_paths[f"/typo{ORDER_PATH}"] = (404, {"error": "no such endpoint"})
        write_config(config, f"{target.url}/typo", database)  # the operator's typo in base_url
        port = free_port()
        env = connector_env()
        web = start_connector(["serve", "--bind", f"127.0.0.1:{port}", "--config", str(config)], env, tmp_path, tmp_path / "web.log")
        worker = start_connector(["worker", "--config", str(config)], env, tmp_path, tmp_path / "worker.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            body = live_order(DOCS_ORDER)
            assert requests.post(f"http://127.0.0.1:{port}/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
            assert wait_for(lambda: dead_letters(database), timeout=30), (tmp_path / "worker.log").read_text()
            assert "404" in dead_letters(database)[0][1] and target.writes[ORDER_PATH] == 0

            write_config(config, target.url, database)  # fixed; the worker keeps running
            time.sleep(0.5)  # a poll interval or so, then the operator replays
            replay = CliRunner().invoke(main, ["replay", "--all", "--config", str(config)])
            assert replay.exit_code == 0 and "replayed 1 orders" in replay.output, replay.output
            assert wait_for(lambda: target.writes[ORDER_PATH] == 1, timeout=30), (tmp_path / "worker.log").read_text()
            assert target.documents[ORDER_PATH]["order_id"] == int(ORDER_ID)
            assert worker.poll() is None  # the same process all along
        finally:
            assert stop(worker) == 0
            stop(web)
    log = (tmp_path / "worker.log").read_text()
    assert "configuration re-read from" in log


def test_a_broken_new_file_keeps_the_settings_in_force(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.toml"
    write_config(config, "http://127.0.0.1:9/one", tmp_path / "c.db")
    current = load_settings(config, env={})
    watcher = SettingsWatcher(current, str(config), env={}, interval_s=0)
    assert watcher.poll() is None  # unchanged

    config.write_text(config.read_text().replace('kind = "http"', 'kind = "fedex"'))
    assert watcher.poll() is None
    assert "does not load (target.kind" in caplog.text and "keeps the settings it has" in caplog.text
    assert watcher.current is current

    write_config(config, "http://127.0.0.1:9/two", tmp_path / "c.db")
    changed = watcher.poll()
    assert changed is not None and changed["target.base_url"] == "http://127.0.0.1:9/two"


def test_settings_of_the_running_process_wait_for_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.toml"
    write_config(config, "http://127.0.0.1:9/one", tmp_path / "c.db")
    watcher = SettingsWatcher(load_settings(config, env={}), str(config), env={}, interval_s=0)
    write_config(config, "http://127.0.0.1:9/two", tmp_path / "elsewhere.db", extra="concurrency = 9\n")
    changed = watcher.poll()
    assert changed is not None and changed["target.base_url"] == "http://127.0.0.1:9/two"
    assert (changed["database.path"], changed["worker.concurrency"]) == (str(tmp_path / "c.db"), 4)
    assert "database.path, worker.concurrency changed" in caplog.text and "when the worker restarts" in caplog.text


def test_a_shop_added_to_the_file_is_delivered_without_a_restart(tmp_path: Path, target: HttpTargetStandIn) -> None:
    """The in-process worker: the new [shops] entry is known, its held event delivered."""
    import threading

    from connector.app import create_app
    from connector.store.db import close_thread_dbs
    from connector.worker.loop import Worker

    database, config = tmp_path / "c.db", tmp_path / "config.toml"
    write_config(config, target.url, database)
    config.write_text(config.read_text().replace(f'[shops."{SHOP}"]\n', ""))  # the shop is not known yet
    settings = load_settings(config, env={})
    client = create_app(settings=settings).test_client()
    body = live_order(DOCS_ORDER)
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    worker = Worker(settings, watcher=SettingsWatcher(settings, str(config), env={}, interval_s=0.05))
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        time.sleep(0.5)
        assert target.writes[ORDER_PATH] == 0  # held: the shop is unknown
        write_config(config, target.url, database)
        assert wait_for(lambda: target.writes[ORDER_PATH] == 1, timeout=20)
    finally:
        worker.stop()
        runner.join(20)
        close_thread_dbs()
    assert json.loads(json.dumps(target.documents[ORDER_PATH]))["order_id"] == int(ORDER_ID)
