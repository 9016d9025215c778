"""A ``PUT /app/api/settings`` (or ``POST …/settings/test``) body, checked field by field (pure).

Every problem is collected under its field (``target.eshop_id``, ``options.skip_tags``) with what
to fix, so the page can show each one beside its input. A secret left out or empty keeps the
stored one — when the platform stays the same; a new platform needs its secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.accounts.options import ShopOptions, parse_options
from connector.accounts.platforms import PLATFORMS, platform
from connector.accounts.stored import AccountChange

# Keys of the GET shape a page may send back unchanged; they are not settings.
READ_ONLY_KEYS = frozenset({"managed_by", "account"})
KEEP = object()  # the target was left out: the stored account stays


@dataclass(frozen=True)
class SettingsForm:
    change: AccountChange | None  # None: the account stays as it is
    options: ShopOptions | None  # None: the options stay as they are


def parse_account(
    raw: Any, stored_kind: str | None, stored_secret_names: set[str], errors: dict[str, str]
) -> AccountChange | None:
    """``{"kind", <fields>}`` → an AccountChange (kind None disconnects); problems into ``errors``."""
    if raw is None or (isinstance(raw, Mapping) and raw.get("kind") is None and set(raw) <= {"kind"}):
        return AccountChange(None, {}, {})
    if not isinstance(raw, Mapping):
        errors["target"] = "expected an object with the platform (kind) and its account fields"
        return None
    spec = platform(raw.get("kind") if isinstance(raw.get("kind"), str) else None)
    if spec is None:
        errors["target.kind"] = f"choose the platform: {' or '.join(PLATFORMS)}"
        return None
    fields: dict[str, str] = {}
    secrets: dict[str, str] = {}
    allowed = {"kind"} | {f.name for f in spec.fields} | {f"{name}_set" for name in spec.secret_names}
    for key in sorted(set(raw) - allowed):
        errors[f"target.{key}"] = (
            "the API address is set by the connector's operator, not here"
            if key == "base_url"
            else f"not a {spec.label} setting"
        )
    for field in spec.fields:
        value = raw.get(field.name)
        if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
            errors[f"target.{field.name}"] = f"{field.label}: expected text"
            continue
        text = str(value).strip() if value is not None else ""
        kept = field.secret and not text and spec.kind == stored_kind and field.name in stored_secret_names
        if not text and field.required and not kept:
            errors[f"target.{field.name}"] = f"{field.label} is required"
            continue
        problem = field.check(text) if text else None
        if problem:
            errors[f"target.{field.name}"] = problem[0].upper() + problem[1:]
            continue
        if text:
            (secrets if field.secret else fields)[field.name] = text
    return AccountChange(spec.kind, fields, secrets)


def parse_settings(
    body: Any, stored_kind: str | None, stored_secret_names: set[str]
) -> tuple[SettingsForm | None, dict[str, str]]:
    """The whole PUT body: ``{"target": …, "options": …}``; either may be left out (kept)."""
    errors: dict[str, str] = {}
    if not isinstance(body, Mapping):
        return None, {"body": 'expected a JSON object like {"target": {...}, "options": {...}}'}
    for key in sorted(set(body) - {"target", "options"} - READ_ONLY_KEYS):
        errors[key] = "not a setting the connector knows"
    change = parse_account(body["target"], stored_kind, stored_secret_names, errors) if "target" in body else None
    kind = change.kind if change is not None else stored_kind
    options = parse_options(body["options"], kind, errors) if "options" in body else None
    if errors:
        return None, errors
    return SettingsForm(change, options), {}
