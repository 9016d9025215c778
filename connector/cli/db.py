"""``connector db``: back up, restore, migrate and copy the store."""

from __future__ import annotations

import sys
import time

import click

from connector.cli.common import config_option
from connector.config import Settings

PG_DUMP_GUIDANCE = """the store is PostgreSQL (database.url): back it up with PostgreSQL's own tools, which
know its transactions and roles, e.g.
    pg_dump --format=custom --file {path} "$DATABASE_URL"
and restore into an empty database with
    pg_restore --no-owner --dbname "$DATABASE_URL" {path}
For recovery to a point in time, use continuous archiving (your provider's backups, or pgBackRest)."""


def _postgres_url(settings: Settings) -> str:
    """The PostgreSQL URL when the store is PostgreSQL (database.url), else ''."""
    url = str(settings.values.get("database.url") or "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


def _refuse_postgres(settings: Settings, path: str) -> None:
    if _postgres_url(settings):
        raise click.ClickException(PG_DUMP_GUIDANCE.format(path=path))


@click.group()
def db() -> None:
    """Back up, restore, migrate and copy the database (the SQLite file at database.path, or
    the PostgreSQL store at database.url).

    Backups are consistent while the connector runs. A restore replaces a database only with
    --force. Migrations run by themselves when the web app or a worker starts; `connector db
    migrate --check` tells whether an upgrade has any to apply. See docs/upgrade.md. To grow
    from one host to several, `connector db copy --to postgresql://…` moves a SQLite store into
    PostgreSQL (docs/deploy.md).
    """


@db.command()
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
def backup(settings: Settings, config_path: str | None, path: str) -> None:
    """Copy the database to PATH, consistently, while the connector keeps running.

    The copy is the database as it was at one instant (SQLite's online backup; webhooks keep
    being stored meanwhile), in one self-contained file that passed SQLite's integrity check
    before it was put in place. PATH must not exist yet. Restore it with `connector db restore`.
    """
    from connector.store.backup import BackupError, backup_database

    _refuse_postgres(settings, path)
    started = time.monotonic()
    try:
        snapshot = backup_database(settings["database.path"], path, settings["database.busy_timeout_s"])
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {settings['database.path']} in {time.monotonic() - started:.1f} s")
    click.echo(f"  {snapshot.describe()}")


@db.command()
@config_option
@click.argument("backup_path", metavar="BACKUP", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing database (a copy of it is kept beside it).")
def restore(settings: Settings, config_path: str | None, backup_path: str, force: bool) -> None:
    """Put BACKUP (made by `connector db backup`) in place of the database at database.path.

    Stop the web app and every worker first. An existing database is replaced only with
    --force, and a copy of it is kept first as <database.path>.before-restore-<time>. A backup
    made by a newer connector version is refused without --force. Pending migrations are
    applied when the connector starts, or with `connector db migrate`.
    """
    from connector.store.backup import BackupError, restore_database
    from connector.store.migrations import pending_migrations

    _refuse_postgres(settings, backup_path)
    try:
        snapshot, kept = restore_database(backup_path, settings["database.path"], force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if kept:
        click.echo(f"kept the database it replaced as {kept}")
    click.echo(f"restored {backup_path}")
    click.echo(f"  {snapshot.describe()}")
    pending = pending_migrations(settings["database.path"])
    if pending:
        click.echo(f"  {len(pending)} migration(s) pending, applied at start: {', '.join(pending)}")


@db.command()
@config_option
@click.option("--check", is_flag=True, help="Apply nothing: list pending migrations, exit 1 if there are any.")
def migrate(settings: Settings, config_path: str | None, check: bool) -> None:
    """Apply pending schema migrations (the web app and workers also do so when they start).

    With --check nothing is applied (no database file is created either): the pending
    migrations are listed, and the exit code is 1 when there are any, 0 when the database is
    up to date — for an upgrade script or a deployment check. Migrations only go forward; to
    go back, restore the backup taken before the upgrade (docs/upgrade.md).
    """
    from connector.store.db import connect, location_of, redact_url
    from connector.store.migrations import known_migrations, pending_migrations
    from connector.store.migrations import migrate as apply_migrations

    path = redact_url(location_of(settings))
    pending = pending_migrations(location_of(settings))
    if check:
        for name in pending:
            click.echo(f"pending: {name}")
        click.echo(
            f"{path}: {len(pending)} pending migration(s)"
            if pending
            else f"{path}: up to date ({known_migrations()[-1]})"
        )
        sys.exit(1 if pending else 0)
    db_conn = connect(location_of(settings), settings["database.busy_timeout_s"])
    try:
        apply_migrations(db_conn)
    finally:
        db_conn.close()
    for name in pending:
        click.echo(f"applied: {name}")
    click.echo(f"{path}: up to date ({known_migrations()[-1]})")


@db.command()
@config_option
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The new PostgreSQL store: postgresql://user:password@host:5432/db (an empty database).",
)
@click.option(
    "--from",
    "source_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="The SQLite file to copy (default: database.path).",
)
def copy(settings: Settings, config_path: str | None, target_url: str, source_path: str | None) -> None:
    """Copy this SQLite store into an empty PostgreSQL database, to move to several hosts.

    Everything is copied — events with their raw bodies, sync state, fulfillments and refunds,
    attempts, dead letters, shops with their (still encrypted) tokens, settings, jobs, data
    requests — in one transaction, with the ids kept, and the row counts of every table checked
    in the target before it commits; a failed copy leaves the target empty. A target that
    already holds rows is refused. Stop the web app and the workers first (what arrives
    during the copy would stay behind), then point database.url (or DATABASE_URL) at the new
    store and start them again; keep shopify.token_encryption_key, which the tokens need.
    """
    from connector.store.copy import CopyError, copy_store
    from connector.store.db import SqliteDb, connect, is_postgres, redact_url
    from connector.store.journal import file_journals

    source_location = source_path or settings["database.path"]
    if not is_postgres(target_url):
        raise click.UsageError("--to must be a postgresql:// URL")
    started = time.monotonic()
    source, target = connect(source_location, settings["database.busy_timeout_s"]), connect(target_url)
    try:
        if isinstance(source, SqliteDb):  # webhooks the stopped web app left in its intake journal
            file_journals(source, source_location, wait=True)
        report = copy_store(source, target)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        source.close()
        target.close()
    click.echo(f"copied {source_location} to {redact_url(target_url)} in {time.monotonic() - started:.1f} s")
    for table, count in report.counts.items():
        click.echo(f"  {table:<20} {count:>9} rows (same count in both)")
    click.echo(f"  {'total':<20} {report.total:>9} rows")
