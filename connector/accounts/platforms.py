"""The tracking platforms a merchant can connect, their account fields and the checks on them.

Pure. A merchant sets credentials and the account's identity, never an address: the API root is
the operator's (:func:`connector.accounts.profile.platform_root`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_UUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain(limit: int, what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if len(value) > limit:
            return f"{what} is longer than {limit} characters"
        if _CONTROL.search(value):
            return f"{what} contains control characters; paste it again without line breaks"
        return None

    return check


def _no_spaces(limit: int, what: str) -> Callable[[str], str | None]:
    plain = _plain(limit, what)

    def check(value: str) -> str | None:
        if " " in value:
            return f"{what} has a space in it; copy it again exactly as the platform shows it"
        return plain(value)

    return check


def _eshop_id(value: str) -> str | None:
    if not _UUID.match(value):
        return "the e-shop ID is a UUID of 36 characters, like 12345678-1234-1234-1234-1234567890ab"
    return None


def _account_number(value: str) -> str | None:
    if not value.isdigit() or not value.strip("0") or len(value) > 15:
        return "the account ID is the number of your parcelLab account, digits only (e.g. 1612345)"
    return None


@dataclass(frozen=True)
class AccountField:
    name: str
    label: str
    secret: bool
    required: bool
    check: Callable[[str], str | None]


@dataclass(frozen=True)
class Platform:
    kind: str
    label: str
    fields: tuple[AccountField, ...]
    identity: str  # the field that says *which* account: changing it means another account

    def field(self, name: str) -> AccountField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)


PLATFORMS: dict[str, Platform] = {
    "foxdeli": Platform(
        "foxdeli",
        "Foxdeli",
        (
            AccountField("username", "API username", False, True, _no_spaces(320, "the API username")),
            AccountField("password", "API password", True, True, _plain(1024, "the API password")),
            AccountField("eshop_id", "E-shop ID", False, True, _eshop_id),
        ),
        identity="eshop_id",
    ),
    "parcellab": Platform(
        "parcellab",
        "parcelLab",
        (
            AccountField("account", "Account ID", False, True, _account_number),
            AccountField("token", "API token", True, True, _no_spaces(4096, "the API token")),
            AccountField("client_key", "Client key", False, False, _plain(512, "the client key")),
        ),
        identity="account",
    ),
}


def platform(kind: str | None) -> Platform | None:
    return PLATFORMS.get(kind or "")
