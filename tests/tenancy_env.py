"""Several shops, several tracking accounts: settings, stand-ins and helpers for the tenancy tests.

One Foxdeli stand-in (one API root, as in production) holds three API users, each with its own
e-shop: the operator's (the global ``target.*`` account) and two merchants'. One parcelLab
stand-in holds the operator's token and one merchant's. Nothing may ever reach an account that is
not the shop's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connector.accounts.options import options_from_json
from connector.accounts.stored import AccountChange, save_merchant_settings
from connector.config import Settings, load_settings
from connector.crypto import generate_key
from connector.lifecycle.tokens import store_grant
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.shopify.oauth import TokenGrant
from connector.store.db import write_transaction
from tests.support import DOCS_ORDER, SECRET, fixture_bytes, store_settings

SHOP_A = "alpha-store.myshopify.com"
SHOP_B = "bravo-store.myshopify.com"
SHOP_C = "charlie-store.myshopify.com"

OPERATOR_ESHOP = "00000000-0000-4000-8000-000000000000"
ESHOP_A = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
ESHOP_B = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
FOX_A = {"username": "api-alpha@alpha.example", "password": "Alpha-pa55word!", "eshop_id": ESHOP_A}
FOX_B = {"username": "api-bravo@bravo.example", "password": "Bravo-pa55word!", "eshop_id": ESHOP_B}
PL_OPERATOR_TOKEN = "pl-operator-token-0000"
PL_C = {"account": "1612345", "token": "pl-charlie-token-3333", "client_key": "charlie.example"}


def add_merchant_accounts(fox: FoxdeliStandIn, pl: ParcellabStandIn) -> None:
    fox.add_account(FOX_A["username"], FOX_A["password"], ESHOP_A)
    fox.add_account(FOX_B["username"], FOX_B["password"], ESHOP_B)
    pl.add_account(PL_C["token"], int(PL_C["account"]))


def tenancy_settings(
    tmp_path: Path, fox: FoxdeliStandIn, pl: ParcellabStandIn, shops_toml: str = "", store: str | None = None,
    **values: Any,
) -> Settings:
    """The operator's Foxdeli account as the global target, ``target.all_shops`` off. ``store``
    is the test's ``db_path`` (a SQLite file or a PostgreSQL URL); default a file in ``tmp_path``."""
    config = tmp_path / "config.toml"
    config.write_text(shops_toml, encoding="utf-8")
    overrides = {
        "shopify.api_secret": SECRET, "shopify.token_encryption_key": generate_key(),
        **store_settings(store or str(tmp_path / "connector.db")), "admin.token": "admin-token",
        "target.kind": "foxdeli", "target.base_url": fox.url, "target.username": fox.username,
        "target.password": fox.password, "target.eshop_id": OPERATOR_ESHOP,
        "target.parcellab_base_url": pl.url, "target.timeout_s": 2,
        "retry.first_delay_s": 0.01, "retry.in_process_window_s": 1, "retry.in_process_attempts": 2,
        "retry.max_delay_s": 0.05, "worker.poll_interval_s": 0.05, "worker.lease_s": 30,
        **values,
    }
    return load_settings(config, env={}, overrides=overrides)


def install(settings: Settings, db: Any, *shops: str) -> None:
    """The shops installed, each with an offline token (so opening the app needs no exchange)."""
    for shop in shops:
        store_grant(db, settings, shop, TokenGrant(access_token=f"shpat_{shop.split('.')[0]}", scope="read_orders"), "oauth")


def connect_account(db: Any, settings: Settings, shop: str, kind: str | None, options: dict[str, Any] | None = None,
                    **fields: str) -> None:
    """What a merchant's PUT /app/api/settings stores (the API tests go through the API itself)."""
    from connector.accounts.platforms import PLATFORMS

    secret_names = PLATFORMS[kind].secret_names if kind else ()
    change = AccountChange(kind, {k: v for k, v in fields.items() if k not in secret_names},
                           {k: v for k, v in fields.items() if k in secret_names})
    with write_transaction(db):
        save_merchant_settings(db, settings, shop, change, options_from_json(options or {}))


def order_for(number: int, **changes: Any) -> bytes:
    """Shopify's documented order, not cancelled, named ``#<number>``; ``changes`` on top."""
    order = json.loads(fixture_bytes(DOCS_ORDER))
    order.update({"cancelled_at": None, "cancel_reason": None, "name": f"#{number}", "order_number": number, **changes})
    if "id" in changes:  # the gid is the id targets trust
        order["admin_graphql_api_id"] = f"gid://shopify/Order/{changes['id']}"
    return json.dumps(order).encode()

