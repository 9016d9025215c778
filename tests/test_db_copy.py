"""`connector db copy --to postgresql://…`: a SQLite install moved whole, then going on there."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.config import Settings, load_settings
from connector.store.db import close_shared_dbs, connect
from connector.worker.loop import Worker
from tests.support import SHOP, documented_fulfillment, fast_settings, live_order, webhook_headers

pytestmark = pytest.mark.postgres_only


def _post(client, body: bytes, topic: str = "orders/create", **kwargs):  # type: ignore[no-untyped-def]
    return client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, topic, **kwargs))


def _settings(tmp_path: Path, location: str, target_url: str) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(f'[shops."{SHOP}"]\n')
    return load_settings(config, env={}, overrides=fast_settings(location, kind="http", base_url=target_url))


def test_a_sqlite_store_is_copied_whole_and_delivery_goes_on_without_duplicates(tmp_path, pg_server, target):
    from connector.app import create_app

    sqlite_path = str(tmp_path / "connector.db")
    before = _settings(tmp_path, sqlite_path, target.url)
    client = create_app(settings=before).test_client()
    assert _post(client, live_order(updated_at="2026-11-25T10:00:00Z"), webhook_id="w-1").status_code == 200
    assert _post(client, json.dumps(documented_fulfillment()).encode(), "fulfillments/create").status_code == 200
    assert _post(client, live_order(), shop="stranger.myshopify.com").status_code == 200  # held
    Worker(before).run(once=True)
    assert len(target.orders()) == 1
    writes_before = sum(target.writes.values())

    url = pg_server.new_database(migrated=False)
    result = CliRunner().invoke(main, ["db", "copy", "--to", url, "--config", str(tmp_path / "config.toml")],
                                env={"CONNECTOR_DATABASE_PATH": sqlite_path})
    assert result.exit_code == 0, result.output
    with closing(connect(sqlite_path)) as source, closing(connect(url)) as copied:
        for table in ("events", "event_bodies", "orders", "order_parts", "attempts", "shops", "app_state", "dry_run_payloads"):
            expected = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert copied.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == expected, table
            assert f"{table} " in result.output
        assert copied.query_rows("SELECT id, state FROM events ORDER BY id") == source.query_rows(
            "SELECT id, state FROM events ORDER BY id")
        assert bytes(copied.execute("SELECT body FROM event_bodies WHERE event_id = 1").fetchone()[0]) == bytes(
            source.execute("SELECT body FROM event_bodies WHERE event_id = 1").fetchone()[0])  # raw bytes, exact
        last_copied_id = source.execute("SELECT max(id) FROM events").fetchone()[0]

    # The install goes on on PostgreSQL: the duplicate is still a duplicate, new ids follow the
    # copied ones, the newer state is delivered once to the same target order.
    after = _settings(tmp_path, url, target.url)
    client = create_app(settings=after).test_client()
    assert _post(client, live_order(updated_at="2026-11-25T10:00:00Z"), webhook_id="w-1").get_json()["duplicate"]
    answer = _post(client, live_order(updated_at="2026-11-25T11:00:00Z"), "orders/updated").get_json()
    assert answer["event"] > last_copied_id
    Worker(after).run(once=True)
    assert len(target.orders()) == 1 and sum(target.writes.values()) == writes_before + 1
    with closing(connect(url)) as copied:
        assert copied.execute("SELECT status FROM orders WHERE shop = ?", [SHOP]).fetchone() == ("synced",)

    again = CliRunner().invoke(main, ["db", "copy", "--to", url, "--config", str(tmp_path / "config.toml")],
                               env={"CONNECTOR_DATABASE_PATH": sqlite_path})
    assert again.exit_code != 0 and "not empty" in again.output  # never into a store that has data
    close_shared_dbs()
