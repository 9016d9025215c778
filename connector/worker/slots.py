"""The worker's delivery threads, each going from one leased order straight to the next.

The worker loop leases orders a little ahead of need (:meth:`DeliverySlots.offer`); a delivery
thread that finishes an order takes the next leased one itself, without waiting for the loop.
When the loop started every order, a thread that finished while the loop was busy elsewhere
(a triage pass over a backlog parses hundreds of bodies) sat idle until the pass ended: under
``bench/deliver.py`` with 50 ms per request, 11% of the threads' time went that way, in gaps
of up to 0.3 s.

Outcomes go back to the loop, which counts them in its own thread (:meth:`collect`). The
loop is woken only when it has something to do here: fewer than ``refill_below`` orders are left
waiting (time to lease more), or it is stopping. Woken by every finished delivery, it made a
whole pass (triage, a claim check, journal filing) per order: ~0.26 ms of CPU each, a fifth of
the worker's CPU per order at 50 ms per request (bench/deliver.py, parcelLab).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Generic, TypeVar

Key = TypeVar("Key")
Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Finished(Generic[Key, Outcome]):
    """One delivery's end: its outcome, or what it raised (a store failure: the lease expires)."""

    key: Key
    outcome: Outcome | None
    error: BaseException | None


class DeliverySlots(Generic[Key, Outcome]):
    """``size`` threads delivering the orders :meth:`offer` hands them, in the order offered."""

    def __init__(
        self, size: int, deliver: Callable[[Key], Outcome], stop: threading.Event, refill_below: int = 1
    ) -> None:
        self.size = size
        self.refill_below = refill_below
        self._deliver = deliver
        self._stop = stop
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="deliver")
        self._lock = threading.Lock()
        self._waiting: deque[Key] = deque()  # leased, not started yet
        self._running: set[Key] = set()
        self._threads = 0  # threads taking orders now (each until none is waiting)
        self._finished: SimpleQueue[Finished[Key, Outcome]] = SimpleQueue()
        self._news = threading.Event()  # the loop is needed: few orders left waiting, or a stop

    def offer(self, keys: Iterable[Key]) -> None:
        """Leased orders to deliver; idle threads start on them at once."""
        with self._lock:
            self._waiting.extend(keys)
            start = min(self.size - self._threads, len(self._waiting))
            self._threads += start
        for _ in range(start):
            self._pool.submit(self._take_orders)

    def counts(self) -> tuple[int, int]:
        """``(threads not delivering, orders waiting)``."""
        with self._lock:
            return self.size - len(self._running), len(self._waiting)

    def busy(self) -> set[Key]:
        """Every order leased to us and not finished: running or waiting."""
        with self._lock:
            return set(self._running) | set(self._waiting)

    def active(self) -> bool:
        with self._lock:
            return bool(self._threads or self._waiting)

    def wait(self, timeout: float) -> None:
        """Until a delivery finishes with fewer than ``refill_below`` orders left waiting, or
        :meth:`wake` is called (at once if either happened since the last call), or ``timeout``."""
        self._news.wait(timeout)
        self._news.clear()

    def wake(self) -> None:
        """End the loop's :meth:`wait` now (the worker is stopping)."""
        self._news.set()

    def collect(self) -> list[Finished[Key, Outcome]]:
        """What finished since the last call."""
        done = []
        while True:
            try:
                done.append(self._finished.get_nowait())
            except Empty:
                return done

    def take_back(self) -> list[Key]:
        """The orders not started (the worker stops): their leases are to be given back."""
        with self._lock:
            keys = list(self._waiting)
            self._waiting.clear()
        return keys

    def close(self) -> None:
        """Wait for the deliveries under way (none starts after :meth:`take_back` or a stop)."""
        self._pool.shutdown(wait=True)

    def _take_orders(self) -> None:
        while True:
            with self._lock:
                if self._stop.is_set() or not self._waiting:
                    self._threads -= 1
                    return
                key = self._waiting.popleft()
                self._running.add(key)
            try:
                finished = Finished(key, self._deliver(key), None)
            except BaseException as exc:  # noqa: BLE001 - the loop logs it; this thread goes on
                finished = Finished(key, None, exc)
            with self._lock:
                self._running.discard(key)
                refill = len(self._waiting) < self.refill_below
            self._finished.put(finished)
            if refill:
                self._news.set()
