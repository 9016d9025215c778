"""The ``target.*`` keys the Foxdeli target reads, typed, for one shop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.targets.base import target_values, timeout_s

DEFAULT_BASE_URL = "https://api.foxdeli.com"


@dataclass(frozen=True)
class FoxdeliSettings:
    base_url: str  # an empty target.base_url means Foxdeli's own host
    username: str
    password: str = field(repr=False)
    eshop_id: str  # the e-shop UUID; empty is refused when an order is mapped or sent
    timeout_s: float
    carriers: Mapping[str, str]  # checked against Foxdeli's carrier enum when mapping
    order_number: str = "name"  # "name" (#1001, as Shopify shows it) or the bare "number"

    @classmethod
    def from_target(cls, values: Mapping[str, Any]) -> FoxdeliSettings:
        merged = target_values(values)
        return cls(
            base_url=str(merged["base_url"] or "").strip() or DEFAULT_BASE_URL,
            username=str(merged["username"] or ""),
            password=str(merged["password"] or ""),
            eshop_id=str(merged["eshop_id"] or "").strip(),
            timeout_s=timeout_s(merged),
            carriers=dict(merged["carriers"] or {}),
            order_number=str(merged["order_number"] or "name"),
        )
