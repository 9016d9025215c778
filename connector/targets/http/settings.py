"""The ``target.*`` keys the generic ``http`` target reads, typed, for one shop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.targets.base import target_values, timeout_s


@dataclass(frozen=True)
class HttpSettings:
    base_url: str  # required: there is no default endpoint
    token: str  # sent as a bearer token when set
    timeout_s: float

    @classmethod
    def from_target(cls, values: Mapping[str, Any]) -> HttpSettings:
        merged = target_values(values)
        return cls(
            base_url=str(merged["base_url"] or "").rstrip("/"),
            token=str(merged["token"] or ""),
            timeout_s=timeout_s(merged),
        )
