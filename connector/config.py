"""Settings, declared once: built-in defaults → TOML file → ``CONNECTOR_<SECTION>_<KEY>`` env.

Every key lives in :data:`SETTINGS` with its type, default and help text; ``config.example.toml``
documents the same keys (a test keeps them in step). Nothing here does I/O except
:func:`load_settings`, which reads the TOML file and the environment it is given.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from connector.errors import ConfigError
from connector.shopify.domains import is_valid_shop_domain
from connector.store.db import POSTGRES_MISSING, POSTGRES_SCHEMES, redact_url, store_engine_available

DEFAULT_API_VERSION = "2026-10"
PLATFORM_DATABASE_URL = "DATABASE_URL"
SHOP_SECTION = "shops"


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    type: type
    default: Any
    help: str
    secret: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env_var(self) -> str:
        return f"CONNECTOR_{self.section.upper()}_{self.key.upper()}"


def _s(section: str, key: str, type_: type, default: Any, help: str, secret: bool = False) -> Setting:
    return Setting(section, key, type_, default, help, secret)


SETTINGS: tuple[Setting, ...] = (
    _s("shopify", "api_key", str, "", "The app's client id (Partner Dashboard / Dev Dashboard)."),
    _s(
        "shopify",
        "api_secret",
        str,
        "",
        "The app's client secret: verifies webhook HMACs and OAuth. Required for `serve`.",
        True,
    ),
    _s(
        "shopify",
        "previous_api_secret",
        str,
        "",
        "The old client secret during a rotation; webhooks signed with it are accepted too.",
        True,
    ),
    _s("shopify", "api_version", str, DEFAULT_API_VERSION, "Admin API version, YYYY-MM."),
    _s("shopify", "scopes", str, "read_orders,read_fulfillments", "OAuth scopes requested at install."),
    _s("shopify", "app_url", str, "", "Public base URL of this app (OAuth redirect and webhook address)."),
    _s(
        "shopify",
        "token_encryption_key",
        str,
        "",
        "Fernet key(s) encrypting shop access/refresh tokens at rest; comma-separated, newest first, to rotate. Required to store tokens.",
        True,
    ),
    _s(
        "shopify",
        "admin_base_url_template",
        str,
        "https://{shop}",
        "Base of a shop's OAuth and Admin API URLs; {shop} is the myshopify domain (a [shops] admin_url wins).",
    ),
    _s(
        "shopify",
        "expiring_offline_tokens",
        bool,
        True,
        "Ask for expiring offline tokens (60-min access token + refresh token) at install.",
    ),
    _s(
        "shopify",
        "page_size",
        int,
        50,
        "Orders per Admin API page in re-sync/reconcile (1-250); modest pages keep the requested query cost low.",
    ),
    _s("database", "path", str, "connector.db", "SQLite file. Needs a persistent disk."),
    _s(
        "database",
        "url",
        str,
        "",
        "PostgreSQL URL (postgresql://user:password@host:5432/db); when set, the store instead of database.path. $DATABASE_URL is read too; CONNECTOR_DATABASE_URL wins.",
    ),
    _s(
        "database",
        "busy_timeout_s",
        float,
        10.0,
        "How long a writer waits for the database before giving up: SQLite's write lock; on PostgreSQL a pooled connection or a row lock.",
    ),
    _s(
        "database",
        "pool_size",
        int,
        10,
        "PostgreSQL: most connections one process opens (a worker opens at least worker.concurrency + 4, plus one to listen for new events).",
    ),
    _s("database", "retention_days", float, 30.0, "Processed events older than this are pruned (sync state is kept)."),
    _s(
        "database",
        "prune_interval_s",
        float,
        600.0,
        "How often the worker prunes processed events past retention_days (0 = every 600 s).",
    ),
    _s("admin", "token", str, "", "Bearer token for /admin; the admin API is closed when empty.", True),
    _s("webhooks", "max_body_bytes", int, 5 * 1024 * 1024, "Largest accepted webhook body; larger ones get 413."),
    _s(
        "webhooks",
        "journal",
        bool,
        True,
        "On SQLite, answer a webhook once it is appended to the intake journal (a folder beside the database file, as durable as a commit there); the worker files it into the database within its poll. false = answer only once the webhook's own row is committed (slower; its row is visible at once). PostgreSQL always commits each webhook.",
    ),
    _s(
        "webhooks",
        "max_delivery_age_s",
        float,
        48 * 3600.0,
        "A webhook that arrives longer than this after its X-Shopify-Triggered-At is kept aside as suspect, never acted on (Shopify retries for 4 hours); 0 = no check.",
    ),
    _s("target", "kind", str, "dry-run", "Where orders go: foxdeli, parcellab, http or dry-run."),
    _s(
        "target",
        "base_url",
        str,
        "",
        "API root (e.g. https://api.foxdeli.com, https://api.parcellab.com); empty = vendor default.",
    ),
    _s("target", "username", str, "", "Foxdeli API username."),
    _s("target", "password", str, "", "Foxdeli API password.", True),
    _s("target", "eshop_id", str, "", "Foxdeli e-shop UUID."),
    _s("target", "token", str, "", "parcelLab API token (or bearer token for the http target).", True),
    _s("target", "account", str, "", "parcelLab account id."),
    _s("target", "client_key", str, "", "parcelLab client key (shop/brand)."),
    _s(
        "target",
        "auth_scheme",
        str,
        "Parcellab-API-Token",
        "Authorization scheme for parcelLab (the vendor's docs disagree: Parcellab-API-Token or Bearer).",
    ),
    _s("target", "timeout_s", float, 10.0, "Per-request timeout towards the target."),
    _s(
        "target",
        "dry_run_mapping",
        str,
        "neutral",
        "Mapping the dry-run target records: neutral, foxdeli or parcellab.",
    ),
    _s(
        "target",
        "carriers",
        dict,
        {},
        "Overrides of the carrier table: Shopify tracking_company → target carrier code.",
    ),
    _s(
        "target",
        "order_number",
        str,
        "name",
        "The order number at the target: name (#1001, as Shopify shows it, with the store's prefix) or number (the bare 1001). A merchant may choose it for their own account.",
    ),
    _s(
        "target",
        "all_shops",
        bool,
        False,
        "Deliver every shop that has no tracking account of its own to this target.* account (a single-store deployment). Off: such a shop's orders are kept until its merchant connects an account in the app.",
    ),
    _s(
        "target",
        "foxdeli_base_url",
        str,
        "",
        "API root for the Foxdeli accounts merchants connect in the app; empty = target.base_url when target.kind is foxdeli, else https://api.foxdeli.com.",
    ),
    _s(
        "target",
        "parcellab_base_url",
        str,
        "",
        "API root for the parcelLab accounts merchants connect in the app; empty = target.base_url when target.kind is parcellab, else https://api.parcellab.com.",
    ),
    _s("retry", "first_delay_s", float, 1.0, "First backoff delay after a transient failure."),
    _s("retry", "max_delay_s", float, 3600.0, "Longest delay between two durable attempts (also caps Retry-After)."),
    _s(
        "retry",
        "in_process_window_s",
        float,
        30.0,
        "How long one worker keeps retrying in-process before rescheduling durably.",
    ),
    _s("retry", "in_process_attempts", int, 4, "Attempts within the in-process window."),
    _s(
        "retry",
        "give_up_after_s",
        float,
        3 * 24 * 3600.0,
        "Age after which a failing event goes to the dead-letter list.",
    ),
    _s(
        "worker", "concurrency", int, 4, "Orders delivered at once by one worker process (never two of the same order)."
    ),
    _s("worker", "poll_interval_s", float, 1.0, "How often an idle worker looks for due work."),
    _s(
        "worker",
        "lease_s",
        float,
        120.0,
        "How long a claimed order stays reserved; a crashed worker's lease expires after this.",
    ),
    _s("worker", "batch_size", int, 200, "Events triaged per pass."),
    _s(
        "worker",
        "max_line_items",
        int,
        2500,
        "An order, fulfillment or refund with more line items is kept aside as invalid with the reason, never mapped (Shopify's own limit is 500 for most shops).",
    ),
    _s(
        "worker",
        "max_json_depth",
        int,
        64,
        "A body nested deeper than this is kept aside as invalid (real ones nest under 12 levels).",
    ),
    _s(
        "worker",
        "metrics_port",
        int,
        9101,
        "Port where the worker serves its Prometheus metrics (0 = off). Each worker on a host needs its own.",
    ),
    _s(
        "worker",
        "metrics_host",
        str,
        "127.0.0.1",
        "Address the worker's metrics listen on: loopback by default; 0.0.0.0 (or a private address) for a Prometheus on another host.",
    ),
    _s(
        "worker",
        "reconcile_interval_s",
        float,
        3600.0,
        "How often the worker asks Shopify for recently updated orders it may have missed (0 = off). Needs Admin API access per shop.",
    ),
    _s(
        "worker",
        "reconcile_window_s",
        float,
        6 * 3600.0,
        "How far back each reconciliation looks; keep it well above the interval so windows overlap.",
    ),
    _s(
        "worker",
        "missing_order_fetch_s",
        float,
        60.0,
        "A fulfillment or refund whose order has not arrived this long after it did is waiting for a lost orders/* webhook: the worker fetches that order from Shopify (a one-order re-sync through the webhook pipeline) when the shop has an Admin API token.",
    ),
    _s(
        "worker",
        "missing_order_give_up_s",
        float,
        3600.0,
        "A fulfillment or refund whose order never arrives (no token to fetch it, or Shopify did not return it) is dead-lettered with that reason after this long, instead of retrying for retry.give_up_after_s; the order arriving later still delivers it.",
    ),
    _s(
        "worker",
        "account_recheck_s",
        float,
        900.0,
        "While a shop's tracking account refuses its credentials (401/403), its orders wait; the worker tries the account again this often (fixing the credentials in the app resumes at once).",
    ),
    _s("server", "bind", str, "127.0.0.1:8000", "Address gunicorn listens on for `connector serve`/`run`."),
    _s("server", "workers", int, 2, "gunicorn worker processes."),
    _s(
        "metrics",
        "shop_labels",
        bool,
        False,
        "Label the per-shop metrics (Shopify API calls, throttling) with the shop's domain. Off: one series summed over all shops, so /metrics names no merchant.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Bounds:
    """The values a number setting may take: from ``low`` (or more than it, with ``above``) to
    ``high``. Every int and float setting has one (a test holds that)."""

    low: float
    high: float | None = None
    above: bool = False  # more than ``low``, not ``low`` itself (a timeout of 0 waits for nothing)

    def describe(self) -> str:
        low = _number(self.low)
        if self.high is None:
            return f"must be more than {low}" if self.above else f"must be at least {low}"
        high = _number(self.high)
        return f"must be more than {low} and at most {high}" if self.above else f"must be from {low} to {high}"

    def problem(self, value: float) -> str | None:
        too_low = value <= self.low if self.above else value < self.low
        too_high = self.high is not None and value > self.high
        return self.describe() if too_low or too_high else None


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


POSITIVE = Bounds(0, above=True)
NOT_NEGATIVE = Bounds(0)
# Why each range: a page beyond 250 is refused by Shopify; a batch of 0 would never triage and
# -1 means "no limit" to SQLite; a port is 16 bits; the rest must simply be able to happen.
BOUNDS: Mapping[str, Bounds] = MappingProxyType(
    {
        "shopify.page_size": Bounds(1, 250),
        "database.busy_timeout_s": POSITIVE,
        "database.pool_size": Bounds(1, 1000),
        "database.retention_days": POSITIVE,
        "database.prune_interval_s": NOT_NEGATIVE,
        "webhooks.max_body_bytes": Bounds(1024),
        "webhooks.max_delivery_age_s": NOT_NEGATIVE,
        "target.timeout_s": POSITIVE,
        "retry.first_delay_s": POSITIVE,
        "retry.max_delay_s": POSITIVE,
        "retry.in_process_window_s": NOT_NEGATIVE,
        "retry.in_process_attempts": Bounds(1, 100),
        "retry.give_up_after_s": POSITIVE,
        "worker.concurrency": Bounds(1, 256),
        "worker.poll_interval_s": POSITIVE,
        "worker.lease_s": POSITIVE,
        "worker.batch_size": Bounds(1, 10_000),
        "worker.max_line_items": Bounds(1),
        "worker.max_json_depth": Bounds(8),  # real bodies nest under 12 levels
        "worker.metrics_port": Bounds(0, 65535),
        "worker.reconcile_interval_s": NOT_NEGATIVE,
        "worker.reconcile_window_s": POSITIVE,
        "worker.account_recheck_s": POSITIVE,
        "worker.missing_order_fetch_s": POSITIVE,
        "worker.missing_order_give_up_s": POSITIVE,
        "server.workers": Bounds(1, 256),
    }
)
# CONNECTOR_* variables that are not settings but are read all the same: the config file's path
# and the test suite's PostgreSQL server.
OTHER_ENV_VARS = frozenset({"CONNECTOR_CONFIG", "CONNECTOR_TEST_PG_URL"})
# The declared default of every target.* key, for the targets' typed settings.
TARGET_DEFAULTS: Mapping[str, Any] = MappingProxyType({s.key: s.default for s in SETTINGS if s.section == "target"})
SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))
# Keys a [shops."<shop>"] table may hold besides target.* overrides: the shop's Admin API access
# (a legacy custom app's token, or a Dev Dashboard app's client credentials) and the merchant
# options of a shop whose account the operator manages.
SHOP_KEYS: dict[str, type] = {
    "access_token": str,
    "admin_url": str,
    "client_credentials": bool,
    "client_id": str,
    "client_secret": str,
    "skip_tags": list,
    "skip_unpaid": bool,
    "skip_test_orders": bool,
}
# The target.* keys that say *whose* account a shop delivers to: an operator's [shops] entry that
# sets one of them assigns the shop its account (timeouts, courier tables or the order number
# alone do not).
ACCOUNT_KEYS = frozenset({"kind", "base_url", "username", "password", "eshop_id", "token", "account", "client_key"})
# Keys of a [shops."<shop>"] table that are secrets (target.* ones follow their setting).
TARGET_SECRET_KEYS = frozenset(s.key for s in SETTINGS if s.section == "target" and s.secret)
SHOP_SECRET_KEYS = TARGET_SECRET_KEYS | {"access_token", "client_secret"}


@dataclass(frozen=True)
class Settings:
    """The effective configuration. ``values`` is keyed by ``section.key``."""

    values: Mapping[str, Any]
    shops: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "built-in defaults"
    # What start-up should tell the operator without stopping (a misspelt CONNECTOR_* variable).
    warnings: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def section(self, section: str) -> dict[str, Any]:
        prefix = section + "."
        return {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}

    def target_for(self, shop: str) -> dict[str, Any]:
        """``target.*`` for one shop, with that shop's overrides applied."""
        merged = self.section("target")
        overrides = self.shops.get(shop, {})
        merged.update({k: v for k, v in overrides.items() if k in merged})
        return merged

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value configured (globally or per shop): what error texts must never show."""
        values = [v for name, v in self.values.items() if _BY_NAME[name].secret and v]
        for overrides in self.shops.values():
            values += [str(v) for k, v in overrides.items() if v and (k in SHOP_SECRET_KEYS)]
        # A comma-separated key list (token_encryption_key) holds several secrets.
        return tuple(dict.fromkeys(part.strip() for v in values for part in [v, *str(v).split(",")] if part.strip()))

    def operator_assigned_shops(self) -> frozenset[str]:
        """Shops whose ``[shops."<shop>"]`` entry names an account (:data:`ACCOUNT_KEYS`): the
        operator gave them their tracking account (Admin API access or options alone do not)."""
        return frozenset(shop for shop, table in self.shops.items() if ACCOUNT_KEYS & table.keys())

    def redacted(self) -> dict[str, Any]:
        """Values safe to print: secrets shown as set/unset only, a database URL without its password."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            secret = _BY_NAME[name].secret
            out[name] = ("***" if value else "") if secret else value
        out["database.url"] = redact_url(out["database.url"])
        return out

    def redacted_shops(self) -> dict[str, dict[str, Any]]:
        """Each ``[shops."<shop>"]`` entry, safe to print: secrets shown as set/unset only."""
        return {
            shop: {
                key: (("***" if value else "") if key in SHOP_SECRET_KEYS else value) for key, value in entry.items()
            }
            for shop, entry in self.shops.items()
        }

    def require(self, *names: str) -> None:
        """Stop with one line naming the first required key that is empty."""
        for name in names:
            if not self.values.get(name):
                setting = _BY_NAME[name]
                raise ConfigError(f"{name} is required (set it in the config file or {setting.env_var})")


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    """Convert a TOML or env value to the setting's type; raise naming the key when it can't."""
    expected = setting.type
    try:
        if expected is dict:
            if not isinstance(raw, dict):
                raise TypeError
            return {str(k): str(v) for k, v in raw.items()}
        if expected is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if isinstance(raw, bool) or isinstance(raw, (dict, list)):
            raise TypeError
        if expected is str:
            return str(raw)
        return _number_value(setting, raw, origin)
    except (TypeError, ValueError):
        shown = "<hidden>" if setting.secret else repr(raw)
        wanted = "a whole number" if expected is int else "a number" if expected is float else expected.__name__
        raise ConfigError(f"{setting.name}: expected {wanted}, got {shown} (from {origin})") from None


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _number_value(setting: Setting, raw: Any, origin: str) -> int | float:
    """An int setting takes whole numbers only (``2.5`` is refused, not cut to 2); a float one any
    finite number; either must lie within its :data:`BOUNDS`."""
    if isinstance(raw, str) and not (_INT_TEXT if setting.type is int else _FLOAT_TEXT).fullmatch(raw.strip()):
        raise ValueError  # ASCII digits only: int() and float() also take "١٢٣"
    if setting.type is int:
        if isinstance(raw, float):
            raise ValueError
        value: int | float = int(raw)
    else:
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
    bounds = BOUNDS.get(setting.name)
    problem = bounds.problem(value) if bounds else None
    if problem:
        raise ConfigError(f"{setting.name}: {problem}, got {raw!r} (from {origin})")
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None


def _parse_shops(raw: Any, origin: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"shops: expected a table of shops (from {origin})")
    target_keys = {s.key: s for s in SETTINGS if s.section == "target"}
    shops: dict[str, dict[str, Any]] = {}
    for shop, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f'shops."{shop}": expected a table (from {origin})')
        if not is_valid_shop_domain(shop):
            raise ConfigError(f'shops."{shop}": not a shop domain like name.myshopify.com (from {origin})')
        parsed: dict[str, Any] = {}
        for key, value in table.items():
            if key in target_keys:
                parsed[key] = _coerce(target_keys[key], value, origin)
            elif key in SHOP_KEYS:
                parsed[key] = _coerce_shop_key(f'shops."{shop}".{key}', SHOP_KEYS[key], value, origin)
            else:
                raise ConfigError(f'shops."{shop}".{key}: unknown key (from {origin})')
        _validate_shop_entry(shop, parsed, origin)
        shops[shop] = parsed
    return shops


def _coerce_shop_key(name: str, expected: type, value: Any, origin: str) -> Any:
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name}: expected a list of strings (from {origin})")
        return [v.strip() for v in value if v.strip()]
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false (from {origin})")
        return value
    if isinstance(value, (dict, list, bool)):
        raise ConfigError(f"{name}: expected a string (from {origin})")
    return str(value)


def _validate_shop_entry(shop: str, entry: Mapping[str, Any], origin: str) -> None:
    where = f'shops."{shop}"'
    if "kind" in entry and entry["kind"] not in TARGET_KINDS:
        raise ConfigError(
            f"{where}.kind: expected foxdeli, parcellab, http or dry-run, got {entry['kind']!r} (from {origin})"
        )
    if entry.get("order_number", "name") not in ORDER_NUMBER_FORMATS:
        raise ConfigError(f'{where}.order_number: expected "name" or "number" (from {origin})')
    if entry.get("client_credentials") and entry.get("access_token"):
        raise ConfigError(
            f"{where}: set access_token (a legacy custom app) or client_credentials, not both (from {origin})"
        )
    if entry.get("access_token"):  # legacy: client_secret alone is the app's API secret key, signing its webhooks
        if "client_id" in entry:
            raise ConfigError(f"{where}.client_id: only used with client_credentials = true (from {origin})")
        return
    if ("client_id" in entry or "client_secret" in entry) and not entry.get("client_credentials"):
        raise ConfigError(
            f"{where}.client_id/client_secret: only used with client_credentials = true, or "
            f"client_secret with access_token (from {origin})"
        )
    if bool(entry.get("client_id")) != bool(entry.get("client_secret")):
        raise ConfigError(f"{where}: client_id and client_secret go together (from {origin})")


def config_file_path(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The file :func:`load_settings` reads — ``path``, else ``$CONNECTOR_CONFIG``, else
    ``./config.toml`` (which may not exist) — and whether it was named explicitly."""
    explicit = path or env.get("CONNECTOR_CONFIG")
    return (Path(explicit) if explicit else Path("config.toml")), bool(explicit)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and ``overrides``.

    The file is ``path``, else ``$CONNECTOR_CONFIG``, else ``config.toml`` when it exists.
    ``overrides`` (``section.key`` → value) is for tests and the CLI and wins over everything.
    """
    env = os.environ if env is None else env
    values = {s.name: s.default for s in SETTINGS}
    shops: dict[str, dict[str, Any]] = {}
    source = "built-in defaults"

    file_path, explicit = config_file_path(path, env)
    if explicit and not file_path.exists():
        raise ConfigError(f"config file {file_path} does not exist")
    if file_path.exists():
        source = str(file_path)
        data = _read_toml(file_path)
        for section, table in data.items():
            if section == SHOP_SECTION:
                shops = _parse_shops(table, source)
                continue
            if section not in SECTIONS or not isinstance(table, dict):
                raise ConfigError(f"{section}: unknown section (from {source})")
            for key, raw in table.items():
                setting = _BY_NAME.get(f"{section}.{key}")
                if setting is None:
                    raise ConfigError(f"{section}.{key}: unknown key (from {source})")
                values[setting.name] = _coerce(setting, raw, source)

    if env.get(PLATFORM_DATABASE_URL) and "CONNECTOR_DATABASE_URL" not in env:
        values["database.url"] = env[PLATFORM_DATABASE_URL]  # Heroku, Render, Dokku… set it
    for setting in SETTINGS:
        if setting.env_var in env and setting.type is not dict:
            values[setting.name] = _coerce(setting, env[setting.env_var], setting.env_var)

    for name, raw in (overrides or {}).items():
        if name not in _BY_NAME:
            raise ConfigError(f"{name}: unknown key")
        values[name] = _coerce(_BY_NAME[name], raw, "overrides")

    _validate(values)
    return Settings(values=values, shops=shops, source=source, warnings=env_warnings(env))


_ENV_VARS = {s.env_var: s for s in SETTINGS}


def env_warnings(env: Mapping[str, str]) -> tuple[str, ...]:
    """One line for each ``CONNECTOR_*`` variable that sets nothing, naming the closest real one
    (a typo in a secret's name would otherwise leave the secret unset without a word)."""
    lines = []
    for name in sorted(k for k in env if k.startswith("CONNECTOR_")):
        setting = _ENV_VARS.get(name)
        if setting is not None:
            if setting.type is dict:
                lines.append(f"{name} is ignored: {setting.name} is a table, set it in the config file")
            continue
        if name in OTHER_ENV_VARS:
            continue
        # Compared without the common prefix, which would make every name look alike.
        known = {var.removeprefix("CONNECTOR_"): var for var in [*_ENV_VARS, *OTHER_ENV_VARS]}
        close = difflib.get_close_matches(name.removeprefix("CONNECTOR_"), known, n=1, cutoff=0.7)
        hint = (
            f"did you mean {known[close[0]]}?"
            if close
            else "settings are CONNECTOR_<SECTION>_<KEY>, see config.example.toml"
        )
        lines.append(f"{name} is not a setting and is ignored: {hint}")
    return tuple(lines)


TARGET_KINDS = ("dry-run", "foxdeli", "parcellab", "http")
ORDER_NUMBER_FORMATS = ("name", "number")


def _validate(values: Mapping[str, Any]) -> None:
    kind = values["target.kind"]
    if kind not in TARGET_KINDS:
        raise ConfigError(f"target.kind: expected foxdeli, parcellab, http or dry-run, got {kind!r}")
    if values["target.order_number"] not in ORDER_NUMBER_FORMATS:
        raise ConfigError('target.order_number: expected "name" (#1001, as Shopify shows it) or "number" (1001)')
    if values["target.dry_run_mapping"] not in ("neutral", "foxdeli", "parcellab"):
        raise ConfigError("target.dry_run_mapping: expected neutral, foxdeli or parcellab")
    version = values["shopify.api_version"]
    if (
        len(version) != 7
        or version[4] != "-"
        or not (version[:4] + version[5:]).isascii()
        or not (version[:4] + version[5:]).isdigit()
    ):
        raise ConfigError(f"shopify.api_version: expected YYYY-MM, got {version!r}")
    if "{shop}" not in values["shopify.admin_base_url_template"]:
        raise ConfigError("shopify.admin_base_url_template: must contain {shop}, e.g. https://{shop}")
    if values["retry.max_delay_s"] < values["retry.first_delay_s"]:
        raise ConfigError("retry.max_delay_s: must be at least retry.first_delay_s")
    url = values["database.url"]
    if url and not url.startswith(POSTGRES_SCHEMES):
        raise ConfigError(
            f"database.url: expected a postgresql:// URL, got {redact_url(url)!r} (a SQLite file goes in database.path)"
        )
    if url and not store_engine_available(url):
        raise ConfigError(POSTGRES_MISSING)
