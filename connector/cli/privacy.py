"""``privacy requests|export``: Shopify's customers/data_request, answered by an operator."""

from __future__ import annotations

import json

import click

from connector.cli.common import config_option, open_db, print_table
from connector.config import Settings


@click.group()
def privacy() -> None:
    """Privacy requests from Shopify (customers/data_request) and what the connector holds."""


@privacy.command("requests")
@config_option
@click.option("--shop", default=None, help="Only this shop.")
def privacy_requests(settings: Settings, config_path: str | None, shop: str | None) -> None:
    """Data requests received, and whether they were exported."""
    from connector.store.privacy import list_data_requests

    print_table(
        list_data_requests(open_db(settings), shop),
        ["id", "shop", "data_request_id", "customer_id", "received_at", "exported_at", "redacted_at"],
    )


@privacy.command("export")
@config_option
@click.option("--request", "request_id", type=int, required=True, help="Data request id (see `privacy requests`).")
def privacy_export(settings: Settings, config_path: str | None, request_id: int) -> None:
    """Print, as JSON, what the connector holds about the request's customer (for the store owner)."""
    from connector.lifecycle.customer_data import collect_customer_data
    from connector.store.privacy import get_data_request, mark_data_request_exported

    db = open_db(settings)
    request = get_data_request(db, request_id)
    if request is None:
        raise click.ClickException(f"no data request {request_id}")
    click.echo(json.dumps(collect_customer_data(db, request), indent=2, ensure_ascii=False, default=str))
    mark_data_request_exported(db, request_id)
