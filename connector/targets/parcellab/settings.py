"""The ``target.*`` keys the parcelLab target reads, typed, for one shop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.config import TARGET_DEFAULTS
from connector.targets.base import target_values, timeout_s

DEFAULT_BASE_URL = "https://api.parcellab.com"


@dataclass(frozen=True)
class ParcellabSettings:
    base_url: str  # an empty target.base_url means parcelLab's own host
    token: str = field(repr=False)
    account: str  # the numeric account id as configured; checked when an order is mapped
    client_key: str
    # The docs disagree on the scheme (spec §1.2): "Parcellab-API-Token <token>" in the
    # authentication guide, "Bearer <token>" in the OpenAPI block; empty means the declared default.
    auth_scheme: str
    timeout_s: float
    carriers: Mapping[str, str]  # Shopify tracking_company → parcelLab courier code
    order_number: str = "name"  # "name" (#1001, as Shopify shows it) or the bare "number"

    @classmethod
    def from_target(cls, values: Mapping[str, Any]) -> ParcellabSettings:
        merged = target_values(values)
        account = merged["account"]
        return cls(
            base_url=str(merged["base_url"] or "").strip() or DEFAULT_BASE_URL,
            token=str(merged["token"] or "").strip(),
            account="" if account is None or isinstance(account, bool) else str(account).strip(),
            client_key=str(merged["client_key"] or ""),
            auth_scheme=str(merged["auth_scheme"] or "").strip() or str(TARGET_DEFAULTS["auth_scheme"]),
            timeout_s=timeout_s(merged),
            carriers=dict(merged["carriers"] or {}),
            order_number=str(merged["order_number"] or "name"),
        )
