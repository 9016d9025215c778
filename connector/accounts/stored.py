"""A shop's settings in the store: read and resolved, or saved with their secrets encrypted.

Secrets are encrypted with the same Fernet key(s) as Shopify tokens (``shopify.token_encryption_key``,
:mod:`connector.crypto`): one token per shop holding the JSON of its secret fields, so a copied
database file or backup reveals none of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.accounts.options import ShopOptions
from connector.accounts.platforms import PLATFORMS
from connector.accounts.profile import ShopProfile, resolve_profile
from connector.config import Settings
from connector.crypto import KEY_SETTING, TokenCipher
from connector.errors import TokenEncryptionError
from connector.store import holds
from connector.store import orders as order_store
from connector.store import shop_settings as settings_store
from connector.store.db import Db
from connector.timeutil import db_time_in

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountChange:
    """A merchant's new account: ``kind`` None disconnects. Secrets left out keep the stored ones."""

    kind: str | None
    fields: Mapping[str, str]
    secrets: Mapping[str, str]

    def __repr__(self) -> str:
        return f"AccountChange(kind={self.kind!r}, fields={dict(self.fields)!r})"


def cipher(settings: Settings) -> TokenCipher:
    return TokenCipher(settings[KEY_SETTING])


def stored_secrets(settings: Settings, row: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The decrypted secret fields of a stored account ({} when none); None when unreadable."""
    if not row or not row.get("secrets"):
        return {}
    try:
        data = json.loads(cipher(settings).decrypt(row["secrets"]))
    except (TokenEncryptionError, ValueError) as exc:
        log.error("stored tracking credentials cannot be read: %s", exc, extra={"shop": row.get("shop")})
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def load_profile(db: Db, settings: Settings, shop: str) -> ShopProfile:
    row = settings_store.get_shop_settings(db, shop)
    return resolve_profile(settings, shop, row, stored_secrets(settings, row))


def save_merchant_settings(
    db: Db,
    settings: Settings,
    shop: str,
    change: AccountChange | None,
    options: ShopOptions,
) -> None:
    """Store what the merchant set (``change`` None: the account stays as it is).

    Inside ``write_transaction``. Another account (platform or identity) forgets the old
    account's remote ids; new credentials forget the last verdict on the old ones; the shop's
    held and skipped orders are judged again at once.
    """
    row = settings_store.get_shop_settings(db, shop, for_update=True) or {}
    old_kind, old_fields = row.get("kind"), row.get("fields") or {}
    old_secrets = stored_secrets(settings, row) or {}
    kind, fields, secrets = old_kind, dict(old_fields), dict(old_secrets)
    if change is not None:
        kind = change.kind
        fields = dict(change.fields)
        kept = old_secrets if change.kind == old_kind else {}
        secrets = {name: change.secrets.get(name) or kept.get(name, "") for name in _secret_names(kind)}
    encrypted = cipher(settings).encrypt(json.dumps(secrets, sort_keys=True)) if kind else None
    new_credentials = (kind, fields, secrets) != (old_kind, old_fields, old_secrets)
    settings_store.save_shop_settings(
        db, shop, kind, fields if kind else {}, encrypted, options.as_json(), new_credentials
    )
    if _identity(kind, fields) != _identity(old_kind, old_fields):
        order_store.reset_remote_refs(db, shop)
    holds.release_held_orders(db, shop)
    holds.release_skipped_orders(db, shop)


def _secret_names(kind: str | None) -> tuple[str, ...]:
    return PLATFORMS[kind].secret_names if kind in PLATFORMS else ()


def _identity(kind: str | None, fields: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if kind not in PLATFORMS:
        return (None, None)
    return (kind, str(fields.get(PLATFORMS[kind].identity) or "").lower() or None)


def record_check(
    db: Db,
    settings: Settings,
    shop: str,
    ok: bool,
    message: str,
) -> None:
    """Keep a verdict on the shop's credentials. A refusal holds the shop's deliveries for
    ``worker.account_recheck_s``; a success releases its held orders. Inside ``write_transaction``."""
    recheck_at = None if ok else db_time_in(settings["worker.account_recheck_s"])
    settings_store.record_account_check(db, shop, ok, message, recheck_at)
    if ok:
        holds.release_held_orders(db, shop)
