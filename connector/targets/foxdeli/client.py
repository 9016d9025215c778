"""HTTP client for Foxdeli's Tracking API: JWT auth, order upsert, cancel, parcels.

Endpoints and behaviour from ``docs/vendors/foxdeli-api.md`` §2–6 (notes on the vendor docs at
https://api.foxdeli.com/docs): ``POST {base}/customer/api/v1/token/authorize`` gives a JWT (10
minutes) that goes into ``X-API-Key``; orders live under ``{base}/tracking/api/v1/order``.
Credentials and tokens never appear in logs or in error reasons (they end up in the store).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from connector.config import TARGET_DEFAULTS
from connector.errors import AccountError, TransientDeliveryError, WaitingError
from connector.scrub import scrub_secrets
from connector.targets.foxdeli.settings import DEFAULT_BASE_URL
from connector.targets.foxdeli.tokens import TokenSlot
from connector.targets.http_session import HttpResponse, HttpSession
from connector.targets.httpclient import LazySession, Verdict, raise_for_response, response_reason, send_request

log = logging.getLogger(__name__)

AUTH_PATH = "/customer/api/v1/token/authorize"
ORDER_PATH = "/tracking/api/v1/order"
TOKEN_LIFETIME_S = 600.0  # "access token 10 minutes" (docs getting-started/api-auth)

# How Foxdeli's 4xx answers are classified (spec §2.6); passed to raise_for_response as overrides.
STATUS_OVERRIDES: Mapping[int, Verdict] = {
    400: "permanent",  # constraint violation: the same body is refused again; the reason lists violations
    401: "account",  # still refused after one fresh login: the credentials are wrong
    403: "account",  # "Eshop was not found for this API key": eshop_id or API user misconfigured
    404: "permanent",  # the order/parcel is gone; the upsert paths handle the expected 404s themselves
    409: "permanent",  # create's "Order exists" is handled (find + PATCH); elsewhere a refused transition
    415: "permanent",  # wrong Content-Type: our bug, retrying cannot help
}

# OrderUpdate (PATCH) has the OrderRegistration fields minus these (spec §2.4).
_NOT_PATCHABLE = ("eshopId", "marketId", "language")


def public_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload without our ``_``-prefixed instructions (``_cancelled``, ``_orderExternalId``)."""
    return {key: value for key, value in payload.items() if not key.startswith("_")}


def order_update_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An ``OrderRegistration`` turned into an ``OrderUpdate`` for PATCH."""
    return {k: v for k, v in public_body(payload).items() if k not in _NOT_PATCHABLE}


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, read without verifying it; None if absent."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, TypeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def problem_reason(response: HttpResponse) -> str:
    """A one-line reason from an ``application/problem+json`` body: title, detail, violations."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not ({"title", "detail", "violations"} & body.keys()):
        return response_reason(response)
    parts = [f"HTTP {response.status_code}"]
    parts += [str(body[k]) for k in ("title", "detail") if body.get(k)]
    violations = body.get("violations")
    if isinstance(violations, dict) and violations:
        parts.append("violations: " + "; ".join(f"{k}: {v}" for k, v in violations.items()))
    elif isinstance(violations, list) and violations:
        parts.append("violations: " + "; ".join(map(str, violations)))
    return " | ".join(parts)


class FoxdeliClient:
    """One authenticated API user against one Foxdeli base URL. Thread-safe: every delivery
    thread shares its token (one login at a time, :mod:`.tokens`)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout_s: float = TARGET_DEFAULTS["timeout_s"],
        session: HttpSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.username, self._password = username, password
        self.timeout_s = float(timeout_s)
        # A lent session is the caller's to share; our own is opened on first use and shared by
        # every delivery thread (its connection pools are thread-safe).
        self._lent = session
        self._sessions = LazySession()
        self._clock = clock
        self._tokens = TokenSlot(clock)

    @property
    def session(self) -> HttpSession:
        """The session this thread sends with."""
        return self._lent or self._sessions.get()

    def set_password(self, password: str) -> None:
        """A changed password (settings reload): forget the token so the next call logs in again."""
        if password != self._password:
            self._password = password
            self._tokens.forget()

    # -- authentication ---------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, [s for s in (self._password, self._tokens.current, self.username) if s])

    def _authorize(self) -> tuple[str, float]:
        """One login: ``(token, expires at)``. Called by :class:`TokenSlot`, one thread at a time."""
        if not self.username or not self._password:
            raise AccountError("Foxdeli settings username/password are empty")
        response = send_request(
            self.session,
            "POST",
            self.base_url + AUTH_PATH,
            timeout=self.timeout_s,
            json={"email": self.username, "password": self._password},
        )
        self.check(response, "authorize")
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise TransientDeliveryError("authorize: answer without a token", status=response.status_code) from None
        if not isinstance(token, str) or not token:
            raise TransientDeliveryError("authorize: answer without a token", status=response.status_code)
        log.debug("foxdeli: authorized at %s", self.base_url)
        return token, jwt_expiry(token) or self._clock() + TOKEN_LIFETIME_S

    def token(self, *, stale: str | None = None, force: bool = False) -> str:
        """A valid access token, shared by every thread: logging in again when it is (nearly)
        expired, when Foxdeli refused ``stale`` (unless another thread already renewed it), or
        when ``force``d."""
        if force:
            stale = self._tokens.current
        return self._tokens.get(self._authorize, stale)

    # -- requests -----------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """Send with ``X-API-Key``; on 401 renew the token once and resend. Errors are not raised here."""
        url = self.base_url + path
        refused: str | None = None
        for _ in (1, 2):
            token = self.token(stale=refused)
            headers = {"X-API-Key": token, "Accept": "application/json"}
            response = send_request(
                self.session, method, url, timeout=self.timeout_s, json=body, params=params, headers=headers
            )
            log.debug("foxdeli: %s %s -> %s", method, path, response.status_code)
            if response.status_code != 401:
                break
            refused = token
        return response

    def check(self, response: HttpResponse, what: str) -> None:
        """Raise the classified delivery error for an error response (reason scrubbed). The
        reason is built only for an error: parsing and scrubbing every success cost ~4% of a
        delivery's CPU."""
        if response.status_code < 400:
            return
        raise_for_response(response, STATUS_OVERRIDES, reason=self._scrub(f"{what}: {problem_reason(response)}"))

    def _id_from(self, response: HttpResponse, what: str) -> str:
        self.check(response, what)
        try:
            value = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            value = None
        if not value:
            raise TransientDeliveryError(f"{what}: answer without an id", status=response.status_code)
        return str(value)

    # -- orders -------------------------------------------------------------------------------
    def find_order_id(self, external_id: str, eshop_id: str) -> str | None:
        """Foxdeli's id for our ``externalIdentifier``, or None when Foxdeli has no such order."""
        response = self.request("GET", ORDER_PATH, params={"externalId": external_id, "eshopId": eshop_id})
        if response.status_code == 404:
            return None
        self.check(response, "find order")
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("content"), list):  # a page, should it be one
            body = body["content"]
        if isinstance(body, list):
            matches = [o for o in body if isinstance(o, dict) and str(o.get("externalIdentifier")) == external_id]
            body = matches[0] if matches else None
        return str(body["id"]) if isinstance(body, dict) and body.get("id") else None

    def check_account(self, eshop_id: str) -> None:
        """Log in afresh, then look up an order that cannot exist in ``eshop_id``: Foxdeli answers
        404 when the API user may use that e-shop and 403 "Eshop was not found for this API key"
        when not. Writes nothing."""
        self.token(force=True)
        self.find_order_id("connector-connection-check", eshop_id)

    def update_order(self, order_id: str, payload: Mapping[str, Any]) -> HttpResponse:
        """PATCH the order; the response is returned unchecked so callers can react to 404."""
        return self.request("PATCH", f"{ORDER_PATH}/{order_id}", body=order_update_body(payload))

    def upsert_order(self, payload: Mapping[str, Any], order_id: str | None = None) -> str:
        """Create or update the order; returns Foxdeli's order id.

        With a remembered id: PATCH it (a 404 means it vanished at Foxdeli: create again).
        Without: POST; a 409 "Order exists" means an earlier attempt got through, so find the
        order by ``externalIdentifier`` and PATCH it.
        """
        if order_id:
            response = self.update_order(order_id, payload)
            if response.status_code != 404:
                self.check(response, "update order")
                return order_id
        response = self.request("POST", ORDER_PATH, body=public_body(payload))
        if response.status_code != 409:
            return self._id_from(response, "create order")
        found = self.find_order_id(str(payload.get("externalIdentifier")), str(payload.get("eshopId")))
        if found is None:
            raise TransientDeliveryError("create order: 409 order exists, but not found by externalId yet", status=409)
        self.check(self.update_order(found, payload), "update order")
        return found

    def cancel_order(self, order_id: str) -> None:
        """PUT …/cancel. A 409 is read as "already cancelled" [I: not documented]."""
        response = self.request("PUT", f"{ORDER_PATH}/{order_id}/cancel")
        if response.status_code != 409:
            self.check(response, "cancel order")

    # -- parcels ------------------------------------------------------------------------------
    def upsert_parcel(self, order_id: str, payload: Mapping[str, Any], parcel_id: str | None = None) -> str:
        """Create the parcel, or PATCH the remembered one (re-created if Foxdeli lost it)."""
        base = f"{ORDER_PATH}/{order_id}/parcel"
        body = public_body(payload)
        if parcel_id:
            response = self.request("PATCH", f"{base}/{parcel_id}", body=body)
            if response.status_code != 404:
                self.check(response, "update parcel")
                return parcel_id
        response = self.request("POST", base, body=body)
        if response.status_code == 404:
            raise WaitingError("create parcel: order not found at Foxdeli", status=404)
        return self._id_from(response, "create parcel")

    def delete_parcel(self, order_id: str, parcel_id: str) -> None:
        """DELETE the parcel (a cancelled Shopify fulfillment); already gone is fine."""
        response = self.request("DELETE", f"{ORDER_PATH}/{order_id}/parcel/{parcel_id}")
        if response.status_code != 404:
            self.check(response, "delete parcel")

    def close(self) -> None:
        """Close our sessions' connections (a lent session stays the caller's)."""
        self._sessions.close()
