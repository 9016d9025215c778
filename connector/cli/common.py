"""What every command shares: the ``--config`` option, the store, tables, one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from connector.config import Settings, load_settings
from connector.errors import ConfigError, ConnectorError
from connector.store.db import Db

DEMO_SHOP = "demo-shop.myshopify.com"


# The bare option (the command gets ``config_path`` and loads it itself, as `connector check` does).
config_path_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $CONNECTOR_CONFIG, then ./config.toml, then built-in defaults).",
)


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config PATH``; the command receives the loaded ``settings`` and ``config_path``.

    A wrong configuration stops the command with one clear line.
    """

    @config_path_option
    @wraps(func)
    def wrapper(config_path: str | None, **kwargs: Any) -> Any:
        try:
            settings = load_settings(config_path)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
        for line in settings.warnings:
            click.echo(f"warning: {line}", err=True)
        try:
            return func(settings, config_path=config_path, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None

    return wrapper


def require_accounts(settings: Settings) -> None:
    """Stop in one line when an account the operator configured for use lacks a credential
    (its orders would all fail): ``serve``, ``worker`` and ``run`` start only when complete."""
    from connector.accounts.required import missing_credentials

    problems = missing_credentials(settings)
    if problems:
        more = f" (and {len(problems) - 1} more: `connector check` lists them)" if len(problems) > 1 else ""
        raise click.ClickException(f"configuration: {problems[0]}{more}")


def check_store(settings: Settings, *, create: bool) -> None:
    """Stop in one line naming the path when the SQLite file cannot be the store: a missing
    folder, another kind of file, a read-only one (``create``: a command that runs the
    connector and writes), or no file at all where a command only reads."""
    from connector.store.db import location_of
    from connector.store.dbfile import DatabaseFileError, check_database_file

    try:
        check_database_file(location_of(settings), must_exist=not create, writable=create)
    except DatabaseFileError as exc:
        raise click.ClickException(str(exc)) from None


def open_db(settings: Settings, create: bool = False) -> Db:
    """The migrated store, with the configured shops registered. Only with ``create`` may the
    database be new: a command that reads must not answer "none yet" from a mistyped path."""
    from connector.app import prepare_store
    from connector.store.db import STORE_ERRORS, db_for, location_of, redact_url

    check_store(settings, create=create)
    try:
        prepare_store(settings)
        return db_for(settings)
    except STORE_ERRORS as exc:
        location = location_of(settings)
        hint = ""
        if os.path.isfile(location) and not os.access(location, os.W_OK):
            hint = " (it is read-only, and SQLite writes beside it even to read: work on a writable copy)"
        raise click.ClickException(f"database {redact_url(location)}: {exc}{hint}") from None


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """``rows`` as aligned columns (cells cut to 60 characters), or ``(none)``."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if row.get(c) is None else str(row.get(c)))[:60] for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def failure(exc: ConnectorError) -> click.ClickException:
    """A library error as the command's one-line error."""
    return click.ClickException(str(getattr(exc, "reason", exc)))
