"""CLI commands for the app lifecycle: ``shops``, ``register-webhooks``, ``privacy``.

A thin click layer over :mod:`connector.lifecycle` and the store. :func:`register` attaches them
to the main group with the main module's helpers (so there is no import cycle with cli.py).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import click

from connector.config import Settings
from connector.errors import ConnectorError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def register(main: click.Group, config_option: Decorator, open_db: Callable[[Settings], Any],
             print_table: Callable[[list[dict[str, Any]], list[str]], None]) -> None:
    """Add the lifecycle commands to ``main``."""

    def fail(exc: ConnectorError) -> click.ClickException:
        return click.ClickException(str(getattr(exc, "reason", exc)))

    @main.group()
    def shops() -> None:
        """Shops the connector delivers for: list, add a custom app's token, remove."""

    @shops.command("list")
    @config_option
    def shops_list(settings: Settings, config_path: str | None) -> None:
        """Every shop with its source and install state (tokens are never shown)."""
        from connector.store.shops import list_shops

        print_table(list_shops(open_db(settings)), ["shop", "source", "installed_at", "uninstalled_at", "has_token", "expiring", "scopes"])

    @shops.command("add")
    @config_option
    @click.argument("shop")
    @click.option("--token", prompt=True, hide_input=True, help="The custom app's Admin API access token (shpat_...); prompted when omitted.")
    @click.option("--register/--no-register", "register_hooks", default=True, show_default=True,
                  help="Also subscribe the shop's webhooks through the Admin API.")
    def shops_add(settings: Settings, config_path: str | None, shop: str, token: str, register_hooks: bool) -> None:
        """Add a custom app installation: store its token (encrypted), as an OAuth install would."""
        from connector.lifecycle import add_custom_app

        try:
            result = add_custom_app(open_db(settings), settings, shop.lower(), token.strip(), register_hooks)
        except ConnectorError as exc:
            raise fail(exc) from None
        click.echo(f"added {result.shop}; {result.released} held events released")
        if result.subscriptions:
            click.echo(f"webhooks: created {len(result.subscriptions.created)}, kept {len(result.subscriptions.kept)}")
        if result.subscription_error:
            raise click.ClickException(f"token stored, but webhook subscriptions failed: {result.subscription_error}")

    @shops.command("remove")
    @config_option
    @click.argument("shop")
    @click.option("--purge", is_flag=True, help="Also erase everything held for the shop, as shop/redact does.")
    def shops_remove(settings: Settings, config_path: str | None, shop: str, purge: bool) -> None:
        """Forget a shop's token and stop its deliveries (events are kept unless --purge)."""
        from connector.db import write_transaction
        from connector.store.privacy import checkpoint_wal, erase_shop
        from connector.store.shops import get_shop, mark_uninstalled

        db = open_db(settings)
        if get_shop(db, shop) is None:
            raise click.ClickException(f"no shop {shop}")
        mark_uninstalled(db, shop)
        if purge:
            with write_transaction(db):
                counts = erase_shop(db, shop)
            checkpoint_wal(db)
            click.echo("erased " + (", ".join(f"{n} {t}" for t, n in counts.items() if n) or "nothing"))
        if shop in settings.shops:
            click.echo(f'note: {shop} is still listed under [shops."{shop}"] in the config and comes back at the next start')
        click.echo(f"removed {shop}")

    @shops.command("new-key")
    def shops_new_key() -> None:
        """Print a new key for shopify.token_encryption_key."""
        from connector.crypto import generate_key

        click.echo(generate_key())

    @main.command("register-webhooks")
    @config_option
    @click.option("--shop", required=True, help="The shop (name.myshopify.com).")
    def register_webhooks(settings: Settings, config_path: str | None, shop: str) -> None:
        """Subscribe a shop's webhooks again (keeps existing subscriptions, creates missing ones)."""
        from connector.lifecycle import register_webhooks as register_shop

        try:
            report = register_shop(open_db(settings), settings, shop.lower())
        except ConnectorError as exc:
            raise fail(exc) from None
        click.echo(f"{shop}: created {', '.join(report.created) or 'none'}; kept {len(report.kept)}")

    @main.group()
    def privacy() -> None:
        """Privacy requests from Shopify (customers/data_request) and what the connector holds."""

    @privacy.command("requests")
    @config_option
    @click.option("--shop", default=None, help="Only this shop.")
    def privacy_requests(settings: Settings, config_path: str | None, shop: str | None) -> None:
        """Data requests received, and whether they were exported."""
        from connector.store.privacy import list_data_requests

        print_table(list_data_requests(open_db(settings), shop),
                    ["id", "shop", "data_request_id", "customer_id", "received_at", "exported_at", "redacted_at"])

    @privacy.command("export")
    @config_option
    @click.option("--request", "request_id", type=int, required=True, help="Data request id (see `privacy requests`).")
    def privacy_export(settings: Settings, config_path: str | None, request_id: int) -> None:
        """Print, as JSON, what the connector holds about the request's customer (for the store owner)."""
        from connector.store.privacy import collect_customer_data, get_data_request, mark_data_request_exported

        db = open_db(settings)
        request = get_data_request(db, request_id)
        if request is None:
            raise click.ClickException(f"no data request {request_id}")
        click.echo(json.dumps(collect_customer_data(db, request), indent=2, ensure_ascii=False, default=str))
        mark_data_request_exported(db, request_id)
