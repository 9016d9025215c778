"""``connector check``: everything the connector needs, each tried for real, one verdict a line.

The configuration (it loads; the accounts configured for use have their credentials), the
database (it opens, is the connector's, is up to date), and for every shop its Shopify Admin API
access (the cheapest authenticated query, ``shop { name myshopifyDomain }``) and its tracking
account as the one resolution rule picks it (:func:`connector.accounts.profile.resolve_profile`):
Foxdeli's token call and e-shop look-up, parcelLab's authenticated read of its orders, the http
target's endpoint answering, nothing for dry-run. Nothing is written at any platform, and no
verdict changes what the worker does: a failing account is the merchant's to fix in the app,
the operator's in the configuration, and each verdict says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import requests

from connector.accounts.check import LABELS, check_account
from connector.accounts.profile import ShopProfile
from connector.accounts.required import missing_credentials
from connector.accounts.stored import load_profile
from connector.config import Settings
from connector.errors import BadRequestError, ConnectorError, ShopifyApiError
from connector.scrub import scrub_secrets
from connector.store.db import STORE_ERRORS, db_for, location_of, redact_url
from connector.store.dbfile import DatabaseFileError, check_database_file
from connector.store.migrations import pending_migrations
from connector.store.shops import known_shops
from connector.timeutil import now_db

Level = Literal["ok", "warn", "fail"]
Tried = tuple[Level, str, bool]  # verdict, the platform's answer, whether it refused the credentials
# One shop's trouble (its configuration, Shopify, the store): reported, never hiding the others'.
CHECK_ERRORS: tuple[type[BaseException], ...] = (ConnectorError, *STORE_ERRORS)


@dataclass(frozen=True)
class Verdict:
    level: Level
    area: str  # configuration, database, shopify, tracking
    message: str

    def line(self) -> str:
        return f"{self.level.upper() if self.level == 'fail' else self.level:<5} {self.area:<14} {self.message}"


def check_configuration(settings: Settings) -> Iterator[Verdict]:
    yield Verdict("ok", "configuration", f"loads from {settings.source}")
    for line in settings.warnings:
        yield Verdict("warn", "configuration", line)
    if not settings["shopify.api_secret"]:
        yield Verdict(
            "fail",
            "configuration",
            "shopify.api_secret is empty: webhooks cannot be verified and "
            "`connector serve` refuses to start (set it, or CONNECTOR_SHOPIFY_API_SECRET)",
        )
    for problem in missing_credentials(settings):
        yield Verdict("fail", "configuration", problem)
    if settings["shopify.api_key"] and not settings["shopify.token_encryption_key"]:
        yield Verdict(
            "warn",
            "configuration",
            "shopify.token_encryption_key is empty: OAuth installs cannot store "
            "their token, nor merchants their accounts (`connector shops new-key` makes one)",
        )


def check_database(settings: Settings) -> Iterator[Verdict]:
    """The store opens and is up to date; ``fail`` stops the checks that need it."""
    location = location_of(settings)
    shown = redact_url(location)
    try:
        check_database_file(location, must_exist=True, writable=True)
        known_shops(db_for(settings))  # a read of the connector's own table
    except DatabaseFileError as exc:
        yield Verdict("fail", "database", str(exc))
        return
    except STORE_ERRORS as exc:
        yield Verdict(
            "fail",
            "database",
            f"{shown}: {scrub_secrets(str(exc))} (is it the connector's database? "
            "`connector db migrate` creates the schema)",
        )
        return
    pending = pending_migrations(location)
    if pending:
        yield Verdict(
            "warn",
            "database",
            f"{shown}: {len(pending)} migration(s) pending, applied at the next start (or `connector db migrate`)",
        )
    else:
        yield Verdict("ok", "database", f"{shown} opens and is up to date")


def shops_to_check(db: Any, settings: Settings, only: str | None) -> list[str]:
    shops = sorted(known_shops(db) | set(settings.shops))
    return [shop for shop in shops if shop == only] if only else shops


def check_shopify(db: Any, settings: Settings, shop: str) -> Verdict:
    from connector.lifecycle.credentials import admin_credentials
    from connector.shopify.admin_api import ShopifyAdminClient

    try:
        base_url, token = admin_credentials(db, settings, shop)
    except BadRequestError:
        return Verdict(
            "warn",
            "shopify",
            f"{shop}: no Admin API access — webhooks still arrive, but re-sync and "
            f"reconciliation cannot run (install the app, `connector shops add {shop}`, or set its access_token)",
        )
    client = ShopifyAdminClient(
        shop=shop, base_url=base_url, token=token, api_version=settings["shopify.api_version"], timeout_s=10.0
    )
    try:
        answer = client.fetch_shop()
    except ShopifyApiError as exc:
        return Verdict("fail", "shopify", f"{shop}: {exc.reason}")
    finally:
        client.close()
    domain = answer.get("myshopifyDomain")
    if domain and domain != shop:
        return Verdict(
            "fail", "shopify", f"{shop}: the token opens another shop, {domain}: give this shop its own token"
        )
    return Verdict("ok", "shopify", f"{shop}: Admin API answered (shop {answer.get('name')!r})")


class TrackingChecks:
    """The tracking account of each shop, tried once per account (shops sharing one share the verdict)."""

    def __init__(self, db: Any, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._tried: dict[tuple[Any, ...], Tried] = {}

    def check(self, shop: str) -> Verdict:
        profile = load_profile(self.db, self.settings, shop)
        if profile.account is None:
            return Verdict(
                "warn",
                "tracking",
                f"{shop}: no tracking account — its orders wait (held) until its merchant "
                "connects one in the app"
                + ("" if self.settings["target.all_shops"] else ', or the operator assigns one under [shops."…"]'),
            )
        level, message, refused = self._try(profile)
        paused = profile.blocked_reason(now_db()) == "syncing is paused"
        where = self._where(profile)
        text = f"{shop}: {LABELS.get(profile.account.kind, profile.account.kind)} account ({where}): {message}"
        if level == "fail":
            text += " — " + (
                self._fix(profile, shop) if refused else "is its API address right, and reachable from here?"
            )
        if paused:
            return Verdict("warn" if level == "ok" else level, "tracking", text + "; syncing is paused by its merchant")
        return Verdict(level, "tracking", text)

    def _try(self, profile: ShopProfile) -> Tried:
        assert profile.account is not None
        account = profile.account.settings
        key = (
            profile.account.kind,
            *(
                str(account.get(k) or "")
                for k in ("base_url", "username", "password", "eshop_id", "token", "account", "auth_scheme")
            ),
        )
        if key not in self._tried:
            self._tried[key] = _try_account(profile.account.kind, account)
        return self._tried[key]

    @staticmethod
    def _where(profile: ShopProfile) -> str:
        assert profile.account is not None
        return {
            "operator": "assigned in the configuration",
            "merchant": "connected by its merchant",
            "default": "[target], target.all_shops",
        }[profile.account.source]

    @staticmethod
    def _fix(profile: ShopProfile, shop: str) -> str:
        assert profile.account is not None
        if profile.account.source == "merchant":
            return "its merchant fixes the credentials in the app (Settings); its orders wait meanwhile"
        if profile.account.source == "operator":
            return f'fix [shops."{shop}"] in the configuration (the worker follows the file)'
        return "fix the [target] account in the configuration (the worker follows the file)"


def _try_account(kind: str, account: Any) -> Tried:
    if kind == "dry-run":
        return "ok", "dry-run: nothing is sent, the payloads are recorded (`connector payloads`)", False
    if kind == "http":
        return _try_http(account)
    result = check_account(kind, account)
    return ("ok" if result.ok else "fail"), result.message, result.refused


def _try_http(account: Any) -> Tried:
    """The generic target has no read to try: its endpoint answering, and not refusing the token."""
    from connector.targets.http.settings import HttpSettings

    http = HttpSettings.from_target(account)
    headers = {"Authorization": f"Bearer {http.token}"} if http.token else {}
    try:
        response = requests.get(http.base_url, headers=headers, timeout=http.timeout_s)
    except requests.RequestException as exc:
        return "fail", f"{http.base_url} cannot be reached ({type(exc).__name__})", False
    if response.status_code in (401, 403):
        return "fail", f"{http.base_url} refused the token (HTTP {response.status_code})", True
    return "ok", f"{http.base_url} answers (HTTP {response.status_code} to a GET)", False


def run_checks(settings: Settings, only_shop: str | None = None) -> Iterator[Verdict]:
    """Every verdict in order; the shop checks only when the database opened."""
    yield from check_configuration(settings)
    database = list(check_database(settings))
    yield from database
    if any(v.level == "fail" for v in database):
        return
    db = db_for(settings)
    shops = shops_to_check(db, settings, only_shop)
    if not shops:
        yield Verdict(
            "warn",
            "shopify",
            f"no shop {only_shop} is known"
            if only_shop
            else 'no shop is known yet: install the app on one, or list it under [shops."…"]',
        )
    tracking = TrackingChecks(db, settings)
    for shop in shops:
        try:
            yield check_shopify(db, settings, shop)
            yield tracking.check(shop)
        except CHECK_ERRORS as exc:  # one shop's trouble never hides the others'
            yield Verdict("fail", "shopify", f"{shop}: {scrub_secrets(str(exc))}")
