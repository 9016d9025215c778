"""`connector db backup / restore / migrate`, on real SQLite files and a running connector.

The backup test posts signed webhooks to the real app (gunicorn) from several threads while a
worker delivers, runs `connector db backup` in the middle of it, restores the copy into a fresh
directory and finds every event acknowledged before the backup began, byte for byte, and a
sync state that agrees with itself; a second backup of the quiet store restores to exactly the
live tables.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from connector.cli import main
from connector.cli.db import _refuse_postgres
from connector.config import Settings
from connector.sandbox.http_target import HttpTargetStandIn
from connector.store.db import connect
from connector.store.migrations import known_migrations, migrations
from tests.processes import connector_env, free_port, start_connector, stop, wait_for, wait_http
from tests.support import SECRET, SHOP, live_order, webhook_headers

TABLES = ("events", "orders", "order_parts", "attempts", "failures", "shops", "app_state", "jobs", "_sqlite_migrations")


def cli(db_path: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env={"CONNECTOR_DATABASE_PATH": str(db_path)})


def rows(path: Path, table: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def test_migrate_check_lists_pending_migrations_and_applies_nothing(tmp_path):
    fresh = tmp_path / "fresh.db"
    result = cli(fresh, "db", "migrate", "--check")
    assert result.exit_code == 1
    assert [line.split(": ")[1] for line in result.output.splitlines() if line.startswith("pending")] == known_migrations()
    assert not fresh.exists()  # checking creates no database
    # A database one release behind: every migration but the newest applied.
    older = tmp_path / "older.db"
    db = connect(str(older))
    migrations.apply(db, stop_before=known_migrations()[-1])
    db.close()
    for _ in range(2):  # asking twice changes nothing
        result = cli(older, "db", "migrate", "--check")
        assert result.exit_code == 1 and f"pending: {known_migrations()[-1]}" in result.output
        assert result.output.count("pending:") == 1
    applied = cli(older, "db", "migrate")
    assert applied.exit_code == 0 and f"applied: {known_migrations()[-1]}" in applied.output
    assert cli(older, "db", "migrate", "--check").exit_code == 0


def test_migrations_run_when_the_app_starts(tmp_path, app, db_path):
    """The `app` fixture is create_app() on a new file: nothing is left pending."""
    result = cli(Path(db_path), "db", "migrate", "--check")
    assert result.exit_code == 0 and "up to date" in result.output


def test_backup_never_overwrites_and_restore_never_replaces_without_force(tmp_path, app, db_path, post):
    assert post(live_order()).status_code == 200
    backup = tmp_path / "backup.db"
    assert cli(Path(db_path), "db", "backup", str(backup)).exit_code == 0
    again = cli(Path(db_path), "db", "backup", str(backup))
    assert again.exit_code == 1 and "never overwrite" in again.output
    # The live database is open (the app's connection): refused, and said so.
    db = connect(db_path)
    db.execute("SELECT 1").fetchone()
    in_use = cli(Path(db_path), "db", "restore", str(backup))
    assert in_use.exit_code == 1 and "is in use" in in_use.output and "--force" in in_use.output
    db.close()
    # Another database that exists: replaced only with --force, and kept.
    other = tmp_path / "other.db"
    assert cli(other, "db", "migrate").exit_code == 0
    assert cli(other, "db", "restore", str(backup)).exit_code == 1
    forced = cli(other, "db", "restore", "--force", str(backup))
    assert forced.exit_code == 0, forced.output
    [kept] = tmp_path.glob("other.db.before-restore-*")
    assert rows(kept, "events") == [] and rows(other, "events") == rows(backup, "events") != []


def test_restore_refuses_a_backup_from_a_newer_version_and_non_databases(tmp_path, app, db_path):
    backup = tmp_path / "backup.db"
    assert cli(Path(db_path), "db", "backup", str(backup)).exit_code == 0
    with closing(sqlite3.connect(backup)) as conn, conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('connector', 'm999_future', '2030-01-01')")
    newer = cli(tmp_path / "new.db", "db", "restore", str(backup))
    assert newer.exit_code == 1 and "newer connector" in newer.output and "m999_future" in newer.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    refused = cli(tmp_path / "new.db", "db", "restore", str(junk))
    assert refused.exit_code == 1 and "not a connector database" in refused.output
    assert not (tmp_path / "new.db").exists()


def test_postgresql_store_gets_pg_dump_guidance_not_a_pretend_backup():
    settings = Settings({"database.url": "postgresql://connector@db.internal/connector", "database.path": "x.db"})
    with pytest.raises(click.ClickException) as refused:
        _refuse_postgres(settings, "/backups/connector.dump")
    assert "pg_dump --format=custom --file /backups/connector.dump" in refused.value.message
    _refuse_postgres(Settings({"database.path": "x.db"}), "b.db")  # SQLite: carries on


class Load:
    """Threads posting signed webhooks (new orders and updates) to the real app, recording acks."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.acked: dict[str, tuple[bytes, float]] = {}  # webhook id → (body, when acknowledged)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _post(self, thread: int) -> None:
        with requests.Session() as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                order_id = 5_000_000_000_000_000 + thread * 1000 + n % 40  # 40 orders per thread, updated again and again
                body = live_order(id=order_id, updated_at=f"2026-11-25T10:{n // 60 % 60:02d}:{n % 60:02d}-05:00")
                webhook_id = str(uuid.uuid4())
                try:
                    answer = http.post(self.url, data=body, headers=webhook_headers(body, "orders/updated", webhook_id=webhook_id), timeout=10)
                except requests.RequestException as exc:
                    self.errors.append(repr(exc))
                    continue
                if answer.status_code == 200:
                    self.acked[webhook_id] = (body, time.monotonic())
                else:
                    self.errors.append(f"{answer.status_code} {answer.text}")


def _open_events(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute("SELECT count(*) FROM events WHERE state IN ('new', 'queued')").fetchone()[0]


def _consistent(path: Path) -> None:
    """The copy agrees with itself: its sync state points at events it holds."""
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        dangling = conn.execute(
            "SELECT count(*) FROM orders WHERE newest_event_id NOT IN (SELECT id FROM events) "
            "OR (delivered_event_id IS NOT NULL AND delivered_event_id NOT IN (SELECT id FROM events))"
        ).fetchone()[0]
        assert dangling == 0
        # every triaged event belongs to an order row
        orphans = conn.execute("SELECT count(*) FROM events e WHERE order_id IS NOT NULL AND NOT EXISTS "
                               "(SELECT 1 FROM orders o WHERE o.shop = e.shop AND o.order_id = e.order_id)").fetchone()[0]
        assert orphans == 0


@pytest.mark.slow
def test_backup_during_intake_load_restores_every_acknowledged_event(tmp_path):
    live_dir, restored_dir = tmp_path / "live", tmp_path / "restored"
    live_dir.mkdir()
    restored_dir.mkdir()
    (live_dir / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    live_db = live_dir / "connector.db"
    port = free_port()
    with HttpTargetStandIn(latency_s=0.005) as target:
        env = connector_env(shopify_api_secret=SECRET, database_path=live_db, target_kind="http", target_all_shops=1,
                            target_base_url=target.url, worker_poll_interval_s=0.05, server_workers=2)
        web = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, live_dir, live_dir / "web.log")
        worker = start_connector(["worker"], env, live_dir, live_dir / "worker.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            with Load(f"http://127.0.0.1:{port}/webhooks/shopify") as load:
                assert wait_for(lambda: len(load.acked) >= 300, timeout=60)
                began = time.monotonic()
                backup = subprocess.run([sys.executable, "-m", "connector.cli", "db", "backup", str(tmp_path / "during.db")],
                                        env=env, cwd=live_dir, capture_output=True, text=True, timeout=120)
                ended = time.monotonic()
                acked_during = sum(1 for _, at in load.acked.values() if began <= at <= ended)
                time.sleep(1.0)  # the load goes on after the copy too
            assert backup.returncode == 0, backup.stderr
            assert load.errors == [] and acked_during > 0  # intake kept answering during the backup
            assert wait_for(lambda: _open_events(live_db) == 0, timeout=60)  # the worker has caught up
            quiet = subprocess.run([sys.executable, "-m", "connector.cli", "db", "backup", str(tmp_path / "quiet.db")],
                                   env=env, cwd=live_dir, capture_output=True, text=True, timeout=120)
            assert quiet.returncode == 0, quiet.stderr
            live_tables = {table: rows(live_db, table) for table in TABLES}
        finally:
            stop(worker)
            stop(web)

    during = tmp_path / "during.db"
    with closing(sqlite3.connect(during)) as conn, conn:
        stored = {webhook_id: bytes(body) for webhook_id, body in conn.execute("SELECT webhook_id, b.body FROM events e JOIN event_bodies b ON b.event_id = e.id")}
    before = {wid: body for wid, (body, at) in load.acked.items() if at < began}
    missing = [wid for wid in before if stored.get(wid) != before[wid]]
    assert missing == [], f"{len(missing)} of {len(before)} events acknowledged before the backup are not in it"
    assert set(stored) <= set(load.acked)  # nothing in the copy that was never acknowledged
    print(f"\nbackup under load: {len(before)} events acknowledged before it began, {acked_during} while it ran "
          f"({ended - began:.2f} s), {len(load.acked)} in all; the copy holds {len(stored)}")
    _consistent(during)

    # Restore both into a fresh directory, with the CLI, as an operator would.
    for name in ("during", "quiet"):
        target_db = restored_dir / f"{name}.db"
        result = cli(target_db, "db", "restore", str(tmp_path / f"{name}.db"))
        assert result.exit_code == 0, result.output
        assert cli(target_db, "db", "migrate", "--check").exit_code == 0
        _consistent(target_db)
    assert {table: rows(restored_dir / "during.db", table) for table in TABLES} == {table: rows(during, table) for table in TABLES}
    assert {table: rows(restored_dir / "quiet.db", table) for table in TABLES} == live_tables  # every row, sync state included
    status = cli(restored_dir / "quiet.db", "status")
    assert status.exit_code == 0 and f"synced {len(live_tables['orders'])}" in status.output
