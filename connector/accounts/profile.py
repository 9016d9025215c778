"""The one rule that says which tracking account a shop's orders go to (pure).

1. An operator's ``[shops."<shop>"]`` entry that sets any ``target.*`` key: that entry on top of
   ``target.*`` (the merchant sees ``managed_by: operator`` and cannot change it).
2. Else the account the shop's merchant connected in the app (stored, secrets encrypted).
3. Else, only where ``target.all_shops`` is on, the global ``target.*`` account.
4. Else no account: the shop's events are kept and its orders wait (``held``) until one is
   connected. Nothing is ever delivered to an account that is not the shop's.

A merchant never chooses an address: a platform's API root is the operator's
(:func:`platform_root`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.accounts.options import ShopOptions, options_from_json
from connector.accounts.platforms import PLATFORMS
from connector.config import Settings

AccountSource = Literal["operator", "merchant", "default"]
# target.* keys a merchant account inherits from the operator's configuration: how to talk to
# the platform, never whose account it is.
INHERITED_KEYS = ("timeout_s", "auth_scheme")


@dataclass(frozen=True)
class AccountCheck:
    """The last verdict on an account's credentials: a connection test or a delivery."""

    ok: bool
    message: str
    checked_at: str | None
    recheck_at: str | None = None


@dataclass(frozen=True)
class ShopAccount:
    kind: str
    settings: Mapping[str, Any]  # the target.* keys the target reads, secrets included: never log it
    source: AccountSource

    def __repr__(self) -> str:  # settings hold secrets
        return f"ShopAccount(kind={self.kind!r}, source={self.source!r})"


@dataclass(frozen=True)
class ShopProfile:
    """Everything that decides where and how a shop's orders are delivered."""

    shop: str
    account: ShopAccount | None
    options: ShopOptions = field(default_factory=ShopOptions)
    managed_by: Literal["operator", "merchant"] = "merchant"
    check: AccountCheck | None = None
    merchant_kind: str | None = None  # the account the merchant stored, even when the operator's wins

    def blocked_reason(self, now: str) -> str | None:
        """Why the shop's orders wait right now, or None when they go out."""
        if self.account is None:
            return "no tracking account connected"
        if self.options.paused and self.managed_by == "merchant":
            return "syncing is paused"
        if self.check and not self.check.ok and self.check.recheck_at and self.check.recheck_at > now:
            return f"the tracking account refuses its credentials: {self.check.message}"
        return None


def platform_root(settings: Settings, kind: str) -> str:
    """The API root for ``kind``: its own setting, else ``target.base_url`` when the global
    target is that platform, else "" (the client's default: the vendor's production root)."""
    own = settings.values.get(f"target.{kind}_base_url") or ""
    if own:
        return own
    return settings["target.base_url"] if settings["target.kind"] == kind else ""


def operator_options(settings: Settings, shop: str) -> ShopOptions:
    """The options of a shop whose account the operator manages: its entry, else ``target.*``."""
    entry = settings.shops.get(shop, {})
    chosen = {k: entry[k] for k in ("skip_tags", "skip_unpaid", "skip_test_orders") if k in entry}
    return options_from_json({**chosen, "order_number": settings.target_for(shop)["order_number"]})


def merchant_account_settings(
    settings: Settings,
    shop: str,
    kind: str,
    fields: Mapping[str, Any],
    secrets: Mapping[str, str],
    options: ShopOptions,
) -> dict[str, Any]:
    """What a target reads for an account the merchant connected."""
    operator = settings.target_for(shop)  # [target] with the shop's entry (no account keys in it)
    out: dict[str, Any] = {key: operator[key] for key in INHERITED_KEYS}
    out.update(kind=kind, base_url=platform_root(settings, kind), order_number=options.order_number)
    out.update({f.name: str(fields.get(f.name) or "") for f in PLATFORMS[kind].fields if not f.secret})
    out.update({name: secrets.get(name, "") for name in PLATFORMS[kind].secret_names})
    # The operator's courier table applies to the platform it was written for.
    operator_carriers = operator["carriers"] if settings["target.kind"] == kind else {}
    out["carriers"] = {**operator_carriers, **options.carriers}
    return out


def resolve_profile(
    settings: Settings,
    shop: str,
    stored: Mapping[str, Any] | None,
    secrets: Mapping[str, str] | None,
) -> ShopProfile:
    """Apply the rule to the configuration and the shop's stored row (``secrets`` decrypted;
    None when they could not be, which leaves the merchant's account unusable)."""
    check, row = _check_of(stored), stored or {}
    if shop in settings.operator_assigned_shops():
        options = operator_options(settings, shop)
        target = settings.target_for(shop)
        account = ShopAccount(target["kind"], target, "operator")
        return ShopProfile(shop, account, options, "operator", check, row.get("kind"))
    options = options_from_json(row.get("options"), settings["target.order_number"])
    kind = row.get("kind")
    if kind in PLATFORMS:
        if secrets is None:  # stored but unreadable (the key changed): hold, never fall back
            return ShopProfile(shop, None, options, "merchant", check, kind)
        account_settings = merchant_account_settings(settings, shop, kind, row.get("fields") or {}, secrets, options)
        return ShopProfile(shop, ShopAccount(kind, account_settings, "merchant"), options, "merchant", check, kind)
    if settings["target.all_shops"]:
        target = settings.target_for(shop)  # the shop's entry may tune it (couriers, timeout), not replace it
        target.update(carriers={**target["carriers"], **options.carriers}, order_number=options.order_number)
        return ShopProfile(shop, ShopAccount(target["kind"], target, "default"), options, "merchant", check, kind)
    return ShopProfile(shop, None, options, "merchant", check, kind)


def _check_of(stored: Mapping[str, Any] | None) -> AccountCheck | None:
    if not stored or stored.get("check_ok") is None:
        return None
    return AccountCheck(
        bool(stored["check_ok"]), stored.get("check_message") or "", stored.get("checked_at"), stored.get("recheck_at")
    )
