"""Retry policy: a short in-process window with tenacity, then a durable schedule.

In-process retries ride out blips (a 502, a dropped connection) within about a minute while the
worker holds the order's lease. Past that window the order is rescheduled in SQLite
(``next_attempt_at``) so an outage of hours costs nothing but time and survives restarts.
Both honour ``Retry-After``, capped by ``retry.max_delay_s``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from connector.config import Settings
from connector.errors import TransientDeliveryError

T = TypeVar("T")
IN_PROCESS_MAX_WAIT_S = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float
    max_delay_s: float
    window_s: float
    attempts: int
    give_up_after_s: float
    missing_order_give_up_s: float = 3600.0  # a part whose order never arrives (worker.missing_order_give_up_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            first_delay_s=settings["retry.first_delay_s"],
            max_delay_s=settings["retry.max_delay_s"],
            window_s=settings["retry.in_process_window_s"],
            attempts=max(1, settings["retry.in_process_attempts"]),
            give_up_after_s=settings["retry.give_up_after_s"],
            missing_order_give_up_s=settings["worker.missing_order_give_up_s"],
        )


def _retry_after(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    return getattr(exc, "retry_after", None) or 0.0


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    stop_event: threading.Event | None = None,
) -> T:
    """Call ``fn``, retrying TransientDeliveryError with jittered exponential backoff.

    Stops early (re-raising the last error) when the attempts are used up or the next wait —
    e.g. a long ``Retry-After`` — would end past the in-process window; the caller then
    reschedules durably. So it does the moment ``stop_event`` is set during a wait: a stopping
    worker must not sit out its retries (SIGTERM used to take up to the whole window), and the
    order is rescheduled in the store all the same, nothing lost.
    """
    started = time.monotonic()
    try:  # the first attempt plain: building tenacity's machinery for every call cost ~2% of a delivery
        return fn()
    except TransientDeliveryError as exc:
        first = exc
    if policy.attempts <= 1:
        raise first
    return _retrying(_replaying(first, fn), policy, started, sleep, stop_event)


def _replaying(first: BaseException, fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` whose first call raises ``first`` again (the attempt already made), so tenacity
    counts it and waits before the second."""
    pending = [first]

    def call() -> T:
        if pending:
            raise pending.pop()
        return fn()

    return call


def _retrying(
    fn: Callable[[], T],
    policy: RetryPolicy,
    started: float,
    sleep: Callable[[float], None],
    stop_event: threading.Event | None,
) -> T:
    jitter = wait_random_exponential(multiplier=policy.first_delay_s, max=IN_PROCESS_MAX_WAIT_S)
    last: list[BaseException] = []

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            last[:] = [exc]
        return min(max(jitter(state), _retry_after(state)), policy.max_delay_s)

    pause = sleep if stop_event is None else _waking_on(stop_event, last)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        remaining = policy.window_s - (time.monotonic() - started)
        return _retry_after(state) > remaining or remaining <= 0

    retrying = Retrying(
        retry=retry_if_exception_type(TransientDeliveryError),
        stop=stop,
        wait=wait,
        sleep=pause,
        reraise=True,
    )
    return retrying(fn)


def _waking_on(stop_event: threading.Event, last: list[BaseException]) -> Callable[[float], None]:
    """A wait that ends the retries when the worker stops: the last failure is raised again,
    as when the attempts are used up, and the caller reschedules the order."""

    def pause(seconds: float) -> None:
        if stop_event.wait(seconds) and last:
            raise last[0]

    return pause


def durable_delay_s(failures: int, retry_after: float | None, policy: RetryPolicy) -> float:
    """Delay before the next durable attempt after ``failures`` consecutive failed rounds.

    Exponential from ``first_delay_s`` × 4 (the in-process round already waited), "equal
    jitter" so retries of many orders spread out, never shorter than Retry-After, capped.
    """
    base = min(policy.max_delay_s, policy.first_delay_s * 4 * 2 ** max(0, failures - 1))
    delay = base / 2 + random.uniform(0, base / 2)
    if retry_after:
        delay = max(delay, retry_after)
    return min(delay, policy.max_delay_s)
