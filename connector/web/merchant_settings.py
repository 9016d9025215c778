"""``/app/api/settings``: the shop's tracking account and options, as its merchant sees and sets them.

Secrets never leave the server: GET answers ``<secret>_set`` flags only. A PUT is checked field
by field (``400 {"errors": {field: what to fix}}``), keeps a secret left out or empty, and is
refused with 409 when the operator manages the shop's account. ``POST /settings/test`` tries the
posted (or stored) credentials against the platform and answers with the platform's own reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from connector.accounts.check import check_account
from connector.accounts.form import parse_account, parse_settings
from connector.accounts.platforms import PLATFORMS
from connector.accounts.profile import ShopProfile, merchant_account_settings
from connector.accounts.stored import load_profile, record_check, save_merchant_settings, stored_secrets
from connector.config import Settings
from connector.errors import TokenEncryptionError
from connector.store import shop_settings as settings_store
from connector.store.db import write_transaction
from connector.store.shop_orders import has_synced_orders
from connector.timeutil import now_db
from connector.web.dbconn import request_db

bp = Blueprint("settings", __name__)
log = logging.getLogger(__name__)
OPERATOR_MANAGES = "Your server operator manages this store's tracking account and settings; ask them to change them."
NO_KEY = "The connector cannot keep credentials yet: its operator has to set shopify.token_encryption_key."


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def request_json() -> tuple[Any, tuple[Response, int] | None]:
    """The body as JSON (whatever the Content-Type says), or the 400 to answer."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}, None
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, ValueError):
        return None, (jsonify(errors={"body": "the request body is not valid JSON"}), 400)


def _stored() -> dict[str, Any]:
    return settings_store.get_shop_settings(request_db(), g.shop) or {}


def settings_view(profile: ShopProfile, stored: dict[str, Any]) -> dict[str, Any]:
    """The GET shape: the account's non-secret fields, ``<secret>_set`` flags, options, who manages."""
    kind: str | None
    if profile.managed_by == "operator" and profile.account is not None:
        kind, values = profile.account.kind, dict(profile.account.settings)
        secrets_set = (
            {name: bool(values.get(name)) for name in PLATFORMS[kind].secret_names} if kind in PLATFORMS else {}
        )
    else:
        kind, values = stored.get("kind"), dict(stored.get("fields") or {})
        secrets = stored_secrets(_settings(), stored) or {}
        secrets_set = (
            {name: bool(secrets.get(name)) for name in PLATFORMS[kind].secret_names} if kind in PLATFORMS else {}
        )
    target: dict[str, Any] = {"kind": kind}
    if kind in PLATFORMS:
        target.update({f.name: str(values.get(f.name) or "") for f in PLATFORMS[kind].fields if not f.secret})
        target.update({f"{name}_set": flag for name, flag in secrets_set.items()})
    check = profile.check
    return {
        "target": target,
        "options": profile.options.as_json(),
        "managed_by": profile.managed_by,
        "account": {
            "connected": profile.account is not None,
            "source": profile.account.source if profile.account else None,
            "check": {"ok": check.ok, "message": check.message, "checked_at": check.checked_at} if check else None,
        },
    }


@bp.get("/settings")
def get_settings() -> Response:
    profile = load_profile(request_db(), _settings(), g.shop)
    return jsonify(settings_view(profile, _stored()))


@bp.put("/settings")
def put_settings() -> tuple[Response, int]:
    db, settings = request_db(), _settings()
    profile = load_profile(db, settings, g.shop)
    if profile.managed_by == "operator":
        return jsonify(error=OPERATOR_MANAGES), 409
    body, bad = request_json()
    if bad:
        return bad
    stored = _stored()
    form, errors = parse_settings(body, stored.get("kind"), _secret_names(stored))
    if form is not None:
        errors = _order_number_problem(form, stored, profile)
    if errors or form is None:
        return jsonify(errors=errors), 400
    try:
        with write_transaction(db):
            save_merchant_settings(db, settings, g.shop, form.change, form.options or profile.options)
    except TokenEncryptionError:
        log.error("settings not saved: shopify.token_encryption_key is missing or wrong", extra={"shop": g.shop})
        return jsonify(error=NO_KEY), 503
    saved = load_profile(db, settings, g.shop)
    log.info(
        "tracking settings saved (%s)",
        saved.account.kind if saved.account else "no account",
        extra={"shop": g.shop, "user": g.session_token.user_id},
    )  # who changed them, for an audit
    return jsonify(settings_view(saved, _stored())), 200


def _secret_names(stored: dict[str, Any]) -> set[str]:
    return {name for name, value in (stored_secrets(_settings(), stored) or {}).items() if value}


def _order_number_problem(form: Any, stored: dict[str, Any], profile: ShopProfile) -> dict[str, str]:
    """parcelLab knows an order by its number: a new number format would create every synced
    order again there. Refuse the change while the shop stays on the same parcelLab account."""
    if form.options is None or form.options.order_number == profile.options.order_number:
        return {}
    kind = form.change.kind if form.change else stored.get("kind")
    same_account = form.change is None or (
        form.change.fields.get("account") == (stored.get("fields") or {}).get("account")
    )
    if (
        kind == "parcellab"
        and stored.get("kind") == "parcellab"
        and same_account
        and has_synced_orders(request_db(), g.shop)
    ):
        return {
            "options.order_number": "parcelLab identifies orders by their number: changing the format now would "
            "create every order already sent a second time. Keep it, or ask parcelLab first."
        }
    return {}


@bp.post("/settings/test")
def test_settings() -> tuple[Response, int]:
    """Try the posted account (secrets left out: the stored ones) or, without one, the shop's own."""
    db, settings = request_db(), _settings()
    body, bad = request_json()
    if bad:
        return bad
    profile = load_profile(db, settings, g.shop)
    posted = body.get("target") if isinstance(body, dict) else None
    if posted is None:
        if profile.account is None:
            return jsonify(ok=False, message="No tracking account is connected yet."), 200
        kind, values, own = profile.account.kind, profile.account.settings, True
    else:
        stored = _stored()
        errors: dict[str, str] = {}
        change = parse_account(posted, stored.get("kind"), _secret_names(stored), errors)
        if errors or change is None or change.kind is None:
            return jsonify(errors=errors or {"target.kind": "choose the platform to test"}), 400
        kept = (stored_secrets(settings, stored) or {}) if change.kind == stored.get("kind") else {}
        secrets = {name: change.secrets.get(name) or kept.get(name, "") for name in PLATFORMS[change.kind].secret_names}
        values = merchant_account_settings(settings, g.shop, change.kind, change.fields, secrets, profile.options)
        kind = change.kind
        own = (
            profile.account is not None
            and profile.account.source == "merchant"
            and dict(values) == dict(profile.account.settings)
        )
    result = check_account(kind, values)
    if own and (result.ok or result.refused):  # a verdict on the shop's own account: remember it
        with write_transaction(db):
            record_check(db, settings, g.shop, result.ok, result.message)
    log.info(
        "connection test: %s", "ok" if result.ok else "refused" if result.refused else "failed", extra={"shop": g.shop}
    )
    return jsonify(ok=result.ok, message=result.message, checked_at=now_db()), 200
