"""What a newcomer's first hour found in the CLI (issue 12, item 11): each answer in one line.

simulate tells the topic by the body, jobs lists ids that `jobs ID` accepts, a taken port and a
wrong number are one line naming what to fix, `connector config` shows the per-shop entries.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from connector.app import create_app
from connector.cli import main
from connector.config import load_settings
from connector.store.db import close_thread_dbs, connect
from tests.conftest import SECRET, SHOP
from tests.golden import FIXTURES_DIR
from tests.support import file_journal


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[shopify]\napi_secret = "{SECRET}"\n[database]\npath = "{tmp_path / "c.db"}"\n'
        f'[worker]\nreconcile_interval_s = 0\n[shops."{SHOP}"]\n'
    )
    return str(path)


@pytest.fixture
def web(config: str) -> Iterator[str]:
    """The real app on a loopback port: the URL of its webhook endpoint."""
    server = make_server("127.0.0.1", 0, create_app(settings=load_settings(config, env={})), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/shopify"
    finally:
        server.shutdown()
        close_thread_dbs()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env)


def stored_topics(config: str) -> list[tuple[str, str]]:
    """The events stored, once the worker has filed what the app answered from its journal."""
    location = load_settings(config, env={})["database.path"]
    file_journal(location)
    db = connect(location)
    try:
        return [tuple(r) for r in db.execute("SELECT topic, shop FROM events ORDER BY id").fetchall()]
    finally:
        db.close()


@pytest.mark.parametrize(
    "fixture, topic",
    [
        ("fulfillments_create.shopify-docs-2026-04.json", "fulfillments/create"),
        ("fulfillments_create.shopify-fulfillment-integration-2014.json", "fulfillments/create"),
        ("refunds_create.shopify-docs-2026-04.json", "refunds/create"),
        ("customers_redact.shopify-docs-2026-04.json", "customers/redact"),
        ("orders_create.shopify-test-notification-2017.json", "orders/create"),
    ],
)
def test_simulate_takes_the_topic_from_the_files_content(config: str, web: str, fixture: str, topic: str) -> None:
    result = invoke("simulate", str(FIXTURES_DIR / fixture), "--url", web, "--shop", SHOP, "--config", config)
    assert result.exit_code == 0, result.output
    assert f"topic={topic}" in result.output and "→ 200" in result.output
    assert stored_topics(config) == [(topic, SHOP)]


def test_simulate_takes_the_shop_a_privacy_body_names(config: str, web: str, tmp_path: Path) -> None:
    body = tmp_path / "shop_redact.json"
    body.write_text('{"shop_id": 954889, "shop_domain": "other-shop.myshopify.com"}')
    result = invoke("simulate", str(body), "--url", web, "--config", config)
    assert result.exit_code == 0, result.output
    assert stored_topics(config) == [("shop/redact", "other-shop.myshopify.com")]


def test_simulate_says_when_the_topic_cannot_be_told(config: str, web: str) -> None:
    page = FIXTURES_DIR / "graphql_orders_page.shopify-admin-2026-10.json"
    result = invoke("simulate", str(page), "--url", web, "--config", config)
    assert result.exit_code == 2 and "pass --topic" in result.output
    assert stored_topics(config) == []  # nothing was posted
    forced = invoke("simulate", str(page), "--topic", "orders/updated", "--url", web, "--config", config)
    assert forced.exit_code == 0, forced.output


def test_the_job_ids_listed_are_the_ones_jobs_and_resume_accept(config: str) -> None:
    from connector.app import prepare_store
    from connector.store.jobs import create_job

    settings = load_settings(config, env={})
    prepare_store(settings)
    db = connect(settings["database.path"])
    job_ids = [create_job(db, "resync", SHOP, {"order_ids": ["1"]}, "nobody", 0.0) for _ in range(2)]
    db.close()
    listing = invoke("jobs", "--config", config)
    assert listing.exit_code == 0, listing.output
    for job_id in job_ids:
        assert job_id in listing.output  # the whole id, as `jobs ID` wants it
        shown = invoke("jobs", job_id, "--config", config)
        assert shown.exit_code == 0 and f"job {job_id} (resync {SHOP})" in shown.output, shown.output
    short = invoke("jobs", job_ids[0][:8], "--config", config)  # the start of one is enough
    assert short.exit_code == 0 and job_ids[0] in short.output


@pytest.mark.parametrize("args", [["jobs", "nope"], ["resync", "--resume", "nope"], ["jobs", "abcdef12"]])
def test_an_unknown_job_is_one_line(config: str, args: list[str]) -> None:
    from connector.app import prepare_store

    prepare_store(load_settings(config, env={}))
    result = invoke(*args, "--config", config)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [f"Error: no job {args[-1]} (`connector jobs` lists them)"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_port_in_use_is_one_clear_line(config: str, taken_port: int, command: str) -> None:
    started = time.monotonic()
    result = invoke(command, "--bind", f"127.0.0.1:{taken_port}", "--config", config)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{taken_port}: the address is in use (another connector, or another "
        "program, listens there): stop it, or choose another address with --bind or server.bind"
    ]
    assert time.monotonic() - started < 3  # not gunicorn's five seconds of retries


@pytest.mark.parametrize("bind, message", [("8000", "expected HOST:PORT"), ("127.0.0.1:99999", "expected HOST:PORT"),
                                           ("192.0.2.1:8000", "not an address of this machine")])
def test_a_bind_address_that_cannot_be_is_one_line(config: str, bind: str, message: str) -> None:
    result = invoke("serve", "--bind", bind, "--config", config)
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_numbers_that_cannot_be_are_refused_naming_the_key(tmp_path: Path) -> None:
    for content, message in [("[server]\nworkers = 0\n", "server.workers: must be from 1 to 256"),
                             ("[worker]\nconcurrency = 2.5\n", "worker.concurrency: expected a whole number, got 2.5")]:
        path = tmp_path / "c.toml"
        path.write_text(content)
        result = invoke("worker", "--once", "--config", str(path))
        assert result.exit_code == 1 and message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_config_shows_per_shop_overrides_with_secrets_hidden(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[target]\nkind = "foxdeli"\n[shops."one.myshopify.com"]\neshop_id = "B"\npassword = "hunter2"\n'
                    '[shops."two.myshopify.com"]\naccess_token = "shpat_secret"\nskip_tags = ["wholesale"]\n')
    result = invoke("config", "--config", str(path))
    assert result.exit_code == 0, result.output
    out = result.output
    assert '[shops."one.myshopify.com"]' in out and 'eshop_id = "B"' in out and 'password = "***"' in out
    assert '[shops."two.myshopify.com"]' in out and 'access_token = "***"' in out and 'skip_tags = ["wholesale"]' in out
    assert "hunter2" not in out and "shpat_secret" not in out


def test_a_misspelt_variable_is_named_at_start(config: str) -> None:
    result = CliRunner().invoke(main, ["config", "--config", config], env={"CONNECTOR_TARGET_PASWORD": "hunter2"})
    assert result.exit_code == 0
    assert ("warning: CONNECTOR_TARGET_PASWORD is not a setting and is ignored: did you mean "
            "CONNECTOR_TARGET_PASSWORD?") in result.stderr
    assert "hunter2" not in result.output
