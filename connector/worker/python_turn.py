"""One delivery thread at a time runs the worker's Python; the others wait for the network.

Under the GIL only one thread runs Python at a time anyway. Sixteen delivery threads that all
want to run take the GIL from one another, each hand-over a futex call and a context switch in
the kernel: at 0 ms per request, 63 context switches and 125 futex calls per delivered order
(``bench/deliver_syscalls.py``, parcelLab), a third of the worker's CPU spent in the
kernel. Here a delivery thread takes *the turn* before it runs a delivery and hands it on while
it waits — for the target's answer, for a group commit, for a back-off — so the threads that
want the GIL at once are the one holding the turn and the worker's loop. As many requests are
in flight as before (``worker.concurrency``); what is fewer is the hand-overs: 34 context
switches per order instead of 64, and 0.90-0.98 of the CPU per order (README, "Delivery, latest").

The turn is a hint, never a lock anyone depends on: a thread that waits :data:`TURN_WAIT_S`
for it goes on without it. A thread holding the turn while it blocks where this module does not
know (a store's busy lock, a slow disk) can slow the others down by that much, never stall
them, and no thread waiting for another while holding the turn can deadlock it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# A delivery's Python takes ~1-2 ms here; sixteen threads queued for the turn wait up to ~20 ms.
TURN_WAIT_S = 0.05


class PythonTurn:
    """The turn to run a delivery's Python, shared by one worker's delivery threads."""

    def __init__(self, wait_s: float = TURN_WAIT_S) -> None:
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._holding = threading.local()
        self.went_without = 0  # waits that ran out (what a test or a profile counts)

    @contextmanager
    def taken(self) -> Iterator[None]:
        """Run the block holding the turn (or without it, once :attr:`wait_s` has passed)."""
        self._take()
        try:
            yield
        finally:
            self._give()

    @contextmanager
    def handed_on(self) -> Iterator[None]:
        """Run the block — a wait — with the turn handed to another thread, then take it back."""
        held = self.holding()
        if held:
            self._give()
        try:
            yield
        finally:
            if held:
                self._take()

    def holding(self) -> bool:
        return getattr(self._holding, "turn", False)

    def _take(self) -> None:
        got = self._lock.acquire(timeout=self.wait_s)
        if not got:
            self.went_without += 1  # racy by a count at worst: a statistic, not a guard
        self._holding.turn = got

    def _give(self) -> None:
        if self.holding():
            self._holding.turn = False
            self._lock.release()
