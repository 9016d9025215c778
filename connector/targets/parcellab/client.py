"""HTTP half of the parcelLab target: ``PUT /v4/track/orders/`` and what its answers mean.

One call only: the PUT is parcelLab's idempotent create-or-update (200 updated, 201 created) and
carries trackings and cancellations as ``mutations`` (spec §1.3, §1.5). Retrying is the worker's
job; this module classifies each outcome as transient or permanent and never lets the API token
into a log line or an error reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from connector import json_bytes
from connector.errors import AccountError, MappingError, PermanentDeliveryError, TransientDeliveryError
from connector.scrub import scrub_secrets
from connector.targets.base import SendResult
from connector.targets.http_session import HttpResponse, HttpSession
from connector.targets.httpclient import Verdict, raise_for_response, response_reason, send_request
from connector.targets.parcellab.mapping import CORE_FIELDS
from connector.targets.parcellab.settings import ParcellabSettings

log = logging.getLogger(__name__)

ORDERS_PATH = "/v4/track/orders/"

# parcelLab's reading of statuses, passed as overrides to the shared table (httpclient).
STATUS_OVERRIDES: Mapping[int, Verdict] = {
    400: "permanent",  # validation_error: "no order or mutation history is written" (spec §1.4)
    401: "account",  # missing/invalid token: the account's token must be fixed
    403: "account",  # token lacks the write scope or belongs to another account
    404: "permanent",
    409: "transient",  # [I] concurrent write to the same order: the next attempt should pass
    429: "transient",  # account rate limit: honour Retry-After (spec §1.6)
}
# A failed mutation inside a 200 is permanent (unknown courier, tracking on another order...)
# unless its message clearly says "later" — these words decide that.
TRANSIENT_MUTATION_WORDS = ("timeout", "timed out", "temporar", "try again", "unavailable", "rate limit")


def put_order(session: HttpSession, settings: ParcellabSettings, payload: dict[str, Any]) -> SendResult:
    """Upsert one order (with any mutations); the remote id is parcelLab's ``external_id``.

    Raises TransientDeliveryError / PermanentDeliveryError; a 200 whose mutation failed is an
    error too, with parcelLab's message as the reason.
    """
    missing = [name for name in CORE_FIELDS if payload.get(name) in (None, "")]
    if missing:
        # parcelLab validates these on every PUT, even a partial update (spec §1.6).
        raise MappingError(f"parcelLab PUT without core fields: {', '.join(missing)}")
    token = settings.token
    if not token:
        raise AccountError("target.token is not set: parcelLab needs an API token")
    response = send_request(
        session,
        "PUT",
        orders_url(settings),
        timeout=settings.timeout_s,
        data=json_bytes.dumps(payload),
        headers={
            "Authorization": f"{settings.auth_scheme} {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    log.debug("PUT %s order_number=%s -> %s", ORDERS_PATH, payload.get("order_number"), response.status_code)
    if response.status_code >= 400:
        raise_for_response(response, STATUS_OVERRIDES, reason=scrub(error_reason(response), token))
    body = _json(response)
    check_mutations(body, response.status_code, token)
    remote_id = body.get("external_id") if isinstance(body, dict) else None
    return SendResult(remote_id=str(remote_id or payload["order_number"]), detail=f"HTTP {response.status_code}")


def check_credentials(session: HttpSession, settings: ParcellabSettings) -> None:
    """A harmless authenticated read, ``GET /v4/track/orders/`` (the account's own orders), to
    learn whether parcelLab takes the token: AccountError on 401/403 with parcelLab's reason."""
    if not settings.token:
        raise AccountError("no API token: parcelLab needs one")
    response = send_request(
        session,
        "GET",
        orders_url(settings),
        timeout=settings.timeout_s,
        headers={"Authorization": f"{settings.auth_scheme} {settings.token}", "Accept": "application/json"},
    )
    if response.status_code >= 400:
        raise_for_response(response, STATUS_OVERRIDES, reason=scrub(error_reason(response), settings.token))


def orders_url(settings: ParcellabSettings) -> str:
    """``{base_url}/v4/track/orders/`` (an empty ``target.base_url`` means parcelLab's own host)."""
    return settings.base_url.rstrip("/") + ORDERS_PATH


def error_reason(response: HttpResponse) -> str:
    """parcelLab's error body as one line: ``HTTP 400 validation_error: attr: detail (code); ...``.

    Other shapes (``{"detail": ...}``, HTML from a proxy) fall back to the shared rendering.
    """
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return response_reason(response)
    parts = []
    for error in errors:
        if isinstance(error, dict):
            attr = f"{error['attr']}: " if error.get("attr") else ""
            code = f" ({error['code']})" if error.get("code") else ""
            parts.append(f"{attr}{error.get('detail') or 'invalid'}{code}")
    kind = body.get("type") or "error"
    return f"HTTP {response.status_code} {kind}: {'; '.join(parts)}"


def check_mutations(body: Any, status: int, token: str = "") -> None:
    """Raise when any ``mutations[].result.success`` is false (a 200 can hide a failed tracking)."""
    mutations = body.get("mutations") if isinstance(body, dict) else None
    failures = []
    for mutation in mutations if isinstance(mutations, list) else []:
        result = mutation.get("result") if isinstance(mutation, dict) else None
        if isinstance(result, dict) and result.get("success") is False:
            message = result.get("message") or json.dumps(result.get("errors") or {}, separators=(",", ":"))
            failures.append(f"{mutation.get('type', 'mutation')} failed: {message}")
    if not failures:
        return
    reason = scrub(f"HTTP {status} with failed mutation: " + "; ".join(failures), token)
    if any(word in reason.lower() for word in TRANSIENT_MUTATION_WORDS):
        raise TransientDeliveryError(reason, status=status)
    raise PermanentDeliveryError(reason, status=status)


def scrub(reason: str, token: str) -> str:
    """The reason without the token (a server may echo the Authorization header) or any other
    credential, bounded (:func:`connector.scrub.scrub_secrets`)."""
    return scrub_secrets(reason, [token] if token else [])


def _json(response: HttpResponse) -> Any:
    # The seed documents "No response body / No content" for the PUT: an empty body is fine.
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {}
