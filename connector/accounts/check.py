"""Trying an account's credentials against its platform, with the platform's own answer.

Foxdeli: a fresh login (its token call), then a look-up in the e-shop (which tells whether the API
user may use it). parcelLab: a harmless authenticated read of the account's orders. Nothing is
written at either platform. Messages come from the clients, which scrub credentials out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import AccountError, DeliveryError, TransientDeliveryError
from connector.targets.foxdeli.client import FoxdeliClient
from connector.targets.foxdeli.settings import FoxdeliSettings
from connector.targets.httpclient import new_session
from connector.targets.parcellab.client import check_credentials
from connector.targets.parcellab.settings import ParcellabSettings

LABELS = {"foxdeli": "Foxdeli", "parcellab": "parcelLab"}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    refused: bool = False  # the platform refused the credentials (not merely unreachable)


def check_account(kind: str, values: Mapping[str, Any]) -> CheckResult:
    """Try the account of ``kind`` described by ``values`` (``target.*`` keys, secrets included)."""
    label = LABELS.get(kind, kind)
    try:
        if kind == "foxdeli":
            _check_foxdeli(FoxdeliSettings.from_target(values))
            return CheckResult(True, "Foxdeli accepted the API user, and it may use this e-shop.")
        if kind == "parcellab":
            _check_parcellab(ParcellabSettings.from_target(values))
            return CheckResult(True, "parcelLab accepted the API token.")
        return CheckResult(False, f"{label} accounts cannot be tested from the app")
    except AccountError as exc:
        return CheckResult(False, f"{label} refused the credentials: {exc.reason}", refused=True)
    except TransientDeliveryError as exc:
        return CheckResult(False, f"{label} did not answer; try again in a moment ({exc.reason})")
    except DeliveryError as exc:
        return CheckResult(False, f"{label} answered: {exc.reason}")


def _check_foxdeli(settings: FoxdeliSettings) -> None:
    client = FoxdeliClient(settings.base_url, settings.username, settings.password, timeout_s=settings.timeout_s)
    try:
        client.check_account(settings.eshop_id)
    finally:
        client.close()


def _check_parcellab(settings: ParcellabSettings) -> None:
    session = new_session()
    try:
        check_credentials(session, settings)
    finally:
        session.close()
