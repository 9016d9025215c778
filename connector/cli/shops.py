"""Shops and their app lifecycle: ``shops list|add|remove|new-key`` and ``register-webhooks``.

A thin click layer over :mod:`connector.lifecycle` and the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from connector.cli.common import config_option, failure, open_db, print_table
from connector.config import Settings
from connector.errors import ConnectorError

if TYPE_CHECKING:  # the lifecycle modules load when a command runs, not for --help
    from connector.lifecycle.install import InstallResult


@click.group()
def shops() -> None:
    """Shops the connector delivers for: list, add a custom app (client credentials, or a legacy token), remove."""


@shops.command("list")
@config_option
def shops_list(settings: Settings, config_path: str | None) -> None:
    """Every shop with its source, install state and tracking account — whose it is, or why its
    orders wait (tokens and credentials are never shown)."""
    from connector.accounts.stored import load_profile
    from connector.store.shops import list_shops
    from connector.timeutil import now_db

    db = open_db(settings)
    rows = list_shops(db)
    for row in rows:
        profile = load_profile(db, settings, row["shop"])
        account = f"{profile.account.kind} ({profile.account.source})" if profile.account else "none"
        row["account"] = account + (f"; held: {reason}" if (reason := profile.blocked_reason(now_db())) else "")
    print_table(rows, ["shop", "source", "installed_at", "uninstalled_at", "has_token", "expiring", "account"])


@shops.command("add")
@config_option
@click.argument("shop")
@click.option(
    "--client-credentials",
    is_flag=True,
    help="A Dev Dashboard custom app (the way since 2026): get its 24-hour Admin API token with the "
    "client credentials grant; the worker renews it. Uses shopify.api_key/api_secret unless "
    "--client-id is given.",
)
@click.option(
    "--client-id",
    default=None,
    help="With --client-credentials: the custom app's own client id "
    "(its secret is prompted for, and stored encrypted).",
)
@click.option(
    "--client-secret", default=None, hidden=True, help="The custom app's client secret (better: let it be prompted)."
)
@click.option(
    "--token",
    default=None,
    help="LEGACY: the Admin API token (shpat_...) of a custom app created in the store admin before 2026 "
    "(Shopify no longer lets anyone create those); prompted when neither this nor "
    "--client-credentials is given.",
)
@click.option(
    "--app-secret",
    "ask_app_secret",
    is_flag=True,
    help="LEGACY, with --token: also keep the custom app's API secret key (prompted, stored encrypted), "
    "which signs its webhooks; needed unless shopify.api_secret is that app's.",
)
@click.option(
    "--register/--no-register",
    "register_hooks",
    default=True,
    show_default=True,
    help="Also subscribe the shop's webhooks through the Admin API.",
)
def shops_add(
    settings: Settings,
    config_path: str | None,
    shop: str,
    client_credentials: bool,
    client_id: str | None,
    client_secret: str | None,
    token: str | None,
    ask_app_secret: bool,
    register_hooks: bool,
) -> None:
    """Add a shop whose Admin API access you hold: a Dev Dashboard custom app (--client-credentials)
    or, legacy, an admin-created custom app's token (--token). As an OAuth install would, the token
    is stored encrypted, the webhooks subscribed and held events released."""
    if client_credentials and token:
        raise click.UsageError("give --client-credentials or --token, not both")
    if client_id and not client_credentials:
        raise click.UsageError("--client-id goes with --client-credentials")
    if ask_app_secret and client_credentials:
        raise click.UsageError(
            "--app-secret goes with --token (a client credentials app's secret comes with --client-id)"
        )
    try:
        if client_credentials:
            result = _add_with_client_credentials(settings, shop.lower(), client_id, client_secret, register_hooks)
        else:
            from connector.lifecycle.install import add_custom_app

            token = token or click.prompt("Token", hide_input=True)
            app_secret = click.prompt("API secret key", hide_input=True).strip() if ask_app_secret else None
            result = add_custom_app(
                open_db(settings, create=True), settings, shop.lower(), token.strip(), register_hooks, app_secret
            )
    except ConnectorError as exc:
        raise failure(exc) from None
    click.echo(f"added {result.shop}; {result.released} held events released")
    if result.subscriptions:
        click.echo(f"webhooks: created {len(result.subscriptions.created)}, kept {len(result.subscriptions.kept)}")
    if result.subscription_error:
        raise click.ClickException(f"token stored, but webhook subscriptions failed: {result.subscription_error}")


def _add_with_client_credentials(
    settings: Settings,
    shop: str,
    client_id: str | None,
    client_secret: str | None,
    register: bool,
) -> InstallResult:
    from connector.lifecycle.client_credentials import install_with_client_credentials

    if client_id and not client_secret:
        client_secret = click.prompt("Client secret", hide_input=True).strip()
    return install_with_client_credentials(
        open_db(settings, create=True), settings, shop, client_id, client_secret, register
    )


@shops.command("remove")
@config_option
@click.argument("shop")
@click.option("--purge", is_flag=True, help="Also erase everything held for the shop, as shop/redact does.")
def shops_remove(settings: Settings, config_path: str | None, shop: str, purge: bool) -> None:
    """Forget a shop's token and stop its deliveries (events are kept unless --purge)."""
    from connector.store.db import write_transaction
    from connector.store.privacy import erase_shop
    from connector.store.shops import get_shop, mark_uninstalled

    db = open_db(settings)
    if get_shop(db, shop) is None:
        raise click.ClickException(f"no shop {shop}")
    mark_uninstalled(db, shop)
    if purge:
        with write_transaction(db):
            counts = erase_shop(db, shop)
        db.dialect.after_redaction(db)
        click.echo("erased " + (", ".join(f"{n} {t}" for t, n in counts.items() if n) or "nothing"))
    if shop in settings.shops:
        click.echo(
            f'note: {shop} is still listed under [shops."{shop}"] in the config and comes back at the next start'
        )
    click.echo(f"removed {shop}")


@shops.command("new-key")
def shops_new_key() -> None:
    """Print a new key for shopify.token_encryption_key (a Fernet key: it encrypts the shops'
    tokens and the merchants' tracking credentials at rest).

    Keep it in the environment (CONNECTOR_SHOPIFY_TOKEN_ENCRYPTION_KEY), never in the config
    file. To rotate, put the new key first: "new,old" (comma-separated, newest first).
    """
    from connector.crypto import generate_key

    click.echo(generate_key())


@click.command("register-webhooks")
@config_option
@click.option("--shop", required=True, help="The shop (name.myshopify.com).")
def register_webhooks(settings: Settings, config_path: str | None, shop: str) -> None:
    """Subscribe a shop's webhooks again (keeps existing subscriptions, creates missing ones)."""
    from connector.lifecycle.install import register_webhooks as register_shop

    try:
        report = register_shop(open_db(settings, create=True), settings, shop.lower())
    except ConnectorError as exc:
        raise failure(exc) from None
    click.echo(f"{shop}: created {', '.join(report.created) or 'none'}; kept {len(report.kept)}")
