"""The accounts the operator configured for use must have their credentials (pure).

An account is *configured for use* when orders will go to it: the global ``[target]`` of a
single-store deployment (``target.all_shops``), and every ``[shops."…"]`` entry that assigns the
shop its account. Without its password or token every order of such a shop would be
dead-lettered or held, one by one; ``serve``, ``worker`` and ``run`` refuse to start instead,
naming the key. A merchant's own account is checked where the merchant enters it (the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.accounts.platforms import PLATFORMS
from connector.config import Settings

# What each kind cannot work without, beyond the platform's own required fields.
_HTTP_REQUIRED = ("base_url",)


def missing_credentials(settings: Settings) -> list[str]:
    """One line per empty key an account configured for use needs, naming where to set it."""
    problems: list[str] = []
    if settings["target.all_shops"]:
        problems += _missing(settings.section("target"), None)
    for shop in sorted(settings.operator_assigned_shops()):
        problems += _missing(settings.target_for(shop), shop)
    return problems


def required_keys(kind: str) -> tuple[str, ...]:
    spec = PLATFORMS.get(kind)
    if spec is not None:
        return tuple(f.name for f in spec.fields if f.required)
    return _HTTP_REQUIRED if kind == "http" else ()


def _missing(target: Mapping[str, Any], shop: str | None) -> list[str]:
    kind = str(target.get("kind") or "")
    label = PLATFORMS[kind].label if kind in PLATFORMS else kind
    lines = []
    for key in required_keys(kind):
        if str(target.get(key) or "").strip():
            continue
        if shop is None:
            lines.append(
                f"target.{key} is empty, and the {label} account of [target] needs it: target.all_shops sends "
                f"every shop's orders there (set it in the config file or CONNECTOR_TARGET_{key.upper()})"
            )
        else:
            lines.append(
                f'target.{key} is empty, and the {label} account of [shops."{shop}"] needs it (set '
                f"{key} in that entry, or target.{key} / CONNECTOR_TARGET_{key.upper()})"
            )
    return lines
