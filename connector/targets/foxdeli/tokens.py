"""Foxdeli access tokens: one login at a time per API user, shared by every delivery thread.

Foxdeli's JWT lives ten minutes (https://api.foxdeli.com/docs/getting-started/api-auth). All of
a worker's threads use the same token; when it needs renewing, one thread logs in while the
others wait on the lock and then take its token. A failed login is remembered: until the
``Retry-After`` of a 429, an exponential back-off after a 5xx or a network failure, or
:data:`REFUSED_HOLD_S` after refused credentials, every caller gets that answer at once instead
of asking Foxdeli again — a wrong password must not turn into one login per order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from connector.errors import DeliveryError, TransientDeliveryError

FIRST_BACKOFF_S = 1.0  # after a failed login without Retry-After; doubles per failure in a row
MAX_BACKOFF_S = 60.0
REFUSED_HOLD_S = 60.0  # refused credentials are not tried again for this long (or until they change)
Login = Callable[[], "tuple[str, float]"]  # → (token, expires at, epoch seconds)


@dataclass(frozen=True)
class _Hold:
    error: DeliveryError
    until: float


class TokenSlot:
    """The token of one (base URL, API user, password). Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._margin = 0.0
        self._hold: _Hold | None = None
        self._failures = 0

    @property
    def current(self) -> str | None:
        return self._token

    def get(self, login: Login, stale: str | None = None) -> str:
        """A valid token. ``stale`` is one Foxdeli just refused (401): renew it, unless another
        thread already has."""
        with self._lock:
            now = self._clock()
            token = self._token
            if token is not None and token != stale and now < self._expires_at - self._margin:
                return token
            self._raise_held(now)
            return self._login(login)

    def forget(self) -> None:
        """Drop the token and any held failure (the credentials changed)."""
        with self._lock:
            self._token, self._hold, self._failures = None, None, 0

    def _login(self, login: Login) -> str:
        try:
            token, expires_at = login()
        except TransientDeliveryError as exc:
            self._failures += 1
            backoff = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self._failures - 1))
            # From the answer, not the question: Retry-After counts from when Foxdeli said it.
            self._hold = _Hold(exc, self._clock() + (exc.retry_after if exc.retry_after is not None else backoff))
            raise
        except DeliveryError as exc:  # refused credentials, an incomplete account
            self._hold = _Hold(exc, self._clock() + REFUSED_HOLD_S)
            raise
        now = self._clock()
        # Renew a little early so a token does not expire in flight: 10 % of its life, at most 30 s.
        self._margin = min(30.0, max(0.0, expires_at - now) * 0.1)
        self._token, self._expires_at = token, expires_at
        self._hold, self._failures = None, 0
        return token

    def _raise_held(self, now: float) -> None:
        hold = self._hold
        if hold is None or now >= hold.until:
            return
        error = hold.error
        if isinstance(error, TransientDeliveryError):
            wait = hold.until - now
            raise TransientDeliveryError(
                f"{error.reason} (no new login for {wait:.1f}s)", status=error.status, retry_after=wait
            )
        raise type(error)(error.reason, status=error.status)
