"""The turn to run a delivery's Python (connector.worker.python_turn): one thread at a time,
handed on while a delivery waits, and never a lock a thread can be stuck behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from connector.config import Settings
from connector.sandbox.http_target import HttpTargetStandIn
from connector.sandbox.server import Request, Response
from connector.worker.loop import Worker
from connector.worker.python_turn import PythonTurn
from tests.support import order_body


def in_thread(fn) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_one_thread_at_a_time_holds_the_turn_and_hands_it_on_while_it_waits() -> None:
    turn = PythonTurn(wait_s=10)
    entered = threading.Event()

    def other() -> None:
        with turn.taken():
            entered.set()

    with turn.taken():
        assert turn.holding()
        thread = in_thread(other)
        assert not entered.wait(0.3)  # ours: the other waits
        with turn.handed_on():
            assert not turn.holding()
            assert entered.wait(5)  # handed on while we wait
            thread.join(5)
        assert turn.holding()  # taken back once the wait is over
    assert turn.went_without == 0 and not turn.holding()


def test_a_thread_that_never_held_the_turn_cannot_hand_on_another_threads() -> None:
    turn = PythonTurn(wait_s=10)
    waiting, entered = threading.Event(), threading.Event()

    def bystander() -> None:
        with turn.handed_on():  # holds nothing, so gives nothing away
            waiting.set()
            time.sleep(0.6)

    def other() -> None:
        with turn.taken():
            entered.set()

    with turn.taken():
        in_thread(bystander)
        assert waiting.wait(5)
        thread = in_thread(other)
        assert not entered.wait(0.3)
    assert entered.wait(5)
    thread.join(5)


def test_a_turn_held_too_long_is_gone_without_not_waited_for() -> None:
    """A holder blocked where the turn is not handed on (a store's busy lock, a slow disk)
    slows the others by ``wait_s``, never stalls them."""
    turn = PythonTurn(wait_s=0.05)
    entered = threading.Event()

    def other() -> None:
        with turn.taken():
            assert not turn.holding()  # went on without it
            entered.set()

    with turn.taken():
        started = time.monotonic()
        thread = in_thread(other)
        assert entered.wait(5)
        waited = time.monotonic() - started
    thread.join(5)
    assert 0.04 <= waited < 2.0
    assert turn.went_without == 1


class SlowTarget(HttpTargetStandIn):
    """Holds every request ``hold_s`` inside the handler, counting the requests in flight."""

    def __init__(self, hold_s: float) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.in_flight = self.max_in_flight = 0
        self._count = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._count:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.hold_s)
            return super().handle(request)
        finally:
            with self._count:
                self.in_flight -= 1


@pytest.fixture
def target() -> Iterator[HttpTargetStandIn]:
    with SlowTarget(hold_s=0.4) as standin:
        yield standin  # type: ignore[misc]


def test_deliveries_wait_for_their_answers_together(settings, post, target, db_path) -> None:
    """With the turn, every delivery thread still has its request in flight at once: the turn is
    handed on while a delivery waits for the target (were it not, 8 orders would take 8 × 0.4 s
    one after the other, the turn never given up before it is waited out)."""
    for n in range(8):
        post(order_body(id=5000 + n, updated_at="2026-11-25T10:00:00Z"), "orders/updated")
    eight = Settings({**settings.values, "worker.concurrency": 8}, settings.shops)
    worker = Worker(eight)
    worker.python_turn = PythonTurn(wait_s=30)  # no going without: a turn kept through a wait would show
    started = time.monotonic()
    stats = worker.run(once=True)
    assert stats.delivered == 8
    assert target.max_in_flight == 8  # type: ignore[attr-defined]
    assert time.monotonic() - started < 8 * 0.4
    assert worker.python_turn.went_without == 0
