"""The merchant's options, as the anchor apps offer them, and the rule that leaves orders out.

Pure. ``skip_reason`` is applied by the worker to the order state it is about to send; the order
number and the courier overrides reach the mappings through ``ShopContext.settings``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.targets.foxdeli.enums import CARRIERS as FOXDELI_CARRIERS

ORDER_NUMBER_FORMATS = ("name", "number")  # "#1001" as Shopify shows it, or the bare 1001
# Not paid yet (https://shopify.dev/docs/api/admin-rest/latest/resources/order, financial_status):
# waiting for payment, authorized but not captured, or the authorization lapsed.
UNPAID_STATUSES = frozenset({"pending", "authorized", "expired", "voided"})
MAX_TAGS = 50
MAX_CARRIERS = 200
_PARCELLAB_CODE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,99}\Z")


@dataclass(frozen=True)
class ShopOptions:
    paused: bool = False
    skip_tags: tuple[str, ...] = ()
    skip_unpaid: bool = False
    skip_test_orders: bool = False
    order_number: str = "name"
    carriers: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "skip_tags": list(self.skip_tags),
            "skip_unpaid": self.skip_unpaid,
            "skip_test_orders": self.skip_test_orders,
            "order_number": self.order_number,
            "carriers": dict(self.carriers),
        }


def options_from_json(data: Any, default_order_number: str = "name") -> ShopOptions:
    """Stored (or configured) options; what does not read cleanly falls back to the default
    (the order number to the operator's ``target.order_number``)."""
    defaults = ShopOptions(order_number=default_order_number)
    if not isinstance(data, Mapping):
        return defaults
    tags = data.get("skip_tags")
    carriers, number = data.get("carriers"), data.get("order_number")
    return ShopOptions(
        paused=data.get("paused") is True,
        skip_tags=tuple(t for t in tags if isinstance(t, str) and t.strip()) if isinstance(tags, list) else (),
        skip_unpaid=data.get("skip_unpaid") is True,
        skip_test_orders=data.get("skip_test_orders") is True,
        order_number=number if isinstance(number, str) and number in ORDER_NUMBER_FORMATS else defaults.order_number,
        carriers={str(k): str(v) for k, v in carriers.items()} if isinstance(carriers, Mapping) else {},
    )


def parse_options(raw: Any, kind: str | None, errors: dict[str, str]) -> ShopOptions | None:
    """Options from a settings PUT; each problem lands in ``errors`` under ``options.<name>``."""
    if not isinstance(raw, Mapping):
        errors["options"] = "expected an object of options"
        return None
    unknown = sorted(set(raw) - set(ShopOptions().as_json()))
    for name in unknown:
        errors[f"options.{name}"] = "not an option the connector knows"
    values = ShopOptions().as_json()
    for name in ("paused", "skip_unpaid", "skip_test_orders"):
        if name in raw:
            if isinstance(raw[name], bool):
                values[name] = raw[name]
            else:
                errors[f"options.{name}"] = "must be true or false"
    if "order_number" in raw:
        if raw["order_number"] in ORDER_NUMBER_FORMATS:
            values["order_number"] = raw["order_number"]
        else:
            errors["options.order_number"] = 'choose "name" (as Shopify shows it, e.g. #1001) or "number" (1001)'
    values["skip_tags"] = _tags(raw.get("skip_tags", []), errors)
    values["carriers"] = _carriers(raw.get("carriers", {}), kind, errors)
    if unknown or any(key.startswith("options") for key in errors):
        return None
    return options_from_json(values)


def _tags(raw: Any, errors: dict[str, str]) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not all(isinstance(tag, str) for tag in raw):
        errors["options.skip_tags"] = "a list of Shopify order tags, e.g. wholesale, no-tracking"
        return []
    tags = list(dict.fromkeys(tag.strip() for tag in raw if tag.strip()))
    if len(tags) > MAX_TAGS:
        errors["options.skip_tags"] = f"at most {MAX_TAGS} tags"
    elif any(len(tag) > 255 or "," in tag for tag in tags):
        errors["options.skip_tags"] = "a tag has at most 255 characters and no comma"
    return tags


def _carriers(raw: Any, kind: str | None, errors: dict[str, str]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        errors["options.carriers"] = "an object of courier name in Shopify → courier code on the platform"
        return {}
    table = {str(k).strip(): v.strip() for k, v in raw.items() if str(k).strip() or v.strip()}
    if kind == "foxdeli":
        table = {name: code.upper() for name, code in table.items()}  # the enum's spelling
    if len(table) > MAX_CARRIERS:
        errors["options.carriers"] = f"at most {MAX_CARRIERS} couriers"
    for name, code in table.items():
        problem = _carrier_problem(name, code, kind)
        if problem:
            errors["options.carriers"] = problem
            break
    return table


def _carrier_problem(name: str, code: str, kind: str | None) -> str | None:
    if not name or not code:
        return "every row needs both the courier name in Shopify and the platform's code"
    if len(name) > 100:
        return f"{name[:20]}…: a courier name has at most 100 characters"
    if kind == "foxdeli" and code.upper() not in FOXDELI_CARRIERS:
        return f"{code!r} is not a Foxdeli carrier code (for example PPL, PACKETA, DPD_CZ, GLS_CZ, CZECH_POST)"
    if kind == "parcellab" and not _PARCELLAB_CODE.match(code):
        return f"{code!r} is not a parcelLab courier code (lower case, like dhl-germany or dpd)"
    return None


def skip_reason(order: Mapping[str, Any], options: ShopOptions) -> str | None:
    """Why the merchant's options leave this order state out, or None to send it."""
    if options.skip_test_orders and order.get("test") is True:
        return "test order (skipped by your settings)"
    if options.skip_unpaid and str(order.get("financial_status") or "").lower() in UNPAID_STATUSES:
        return f"not paid yet: {order.get('financial_status')} (skipped by your settings)"
    if options.skip_tags:
        tagged = {t.strip().casefold() for t in str(order.get("tags") or "").split(",") if t.strip()}
        hit = next((tag for tag in options.skip_tags if tag.casefold() in tagged), None)
        if hit:
            return f"tagged {hit} (skipped by your settings)"
    return None
