"""Retry policy and the one table that classifies responses."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from connector.errors import PermanentDeliveryError, TransientDeliveryError
from connector.targets.httpclient import STATUS_TABLE, classify_status, parse_retry_after
from connector.worker.retrying import RetryPolicy, call_with_retries, durable_delay_s

POLICY = RetryPolicy(first_delay_s=0.001, max_delay_s=60, window_s=5, attempts=4, give_up_after_s=100)


@pytest.mark.parametrize(
    "status, verdict",
    [(200, None), (201, None), (204, None), (400, "permanent"), (401, "permanent"), (403, "permanent"),
     (404, "permanent"), (409, "permanent"), (415, "permanent"), (422, "permanent"), (408, "transient"),
     (425, "transient"), (429, "transient"), (500, "transient"), (502, "transient"), (503, "transient"),
     (504, "transient"), (507, "transient")],
)
def test_status_table(status, verdict):
    assert classify_status(status) == verdict


def test_table_lists_the_codes_the_issue_names_as_transient():
    assert {code for code, v in STATUS_TABLE.items() if v == "transient"} >= {408, 425, 429, 500, 502, 503, 504}


def test_vendor_overrides_win():
    assert classify_status(409, {409: "transient"}) == "transient"


def test_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    in_a_minute = formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 61
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0


def test_transient_errors_are_retried_then_reraised():
    calls = []

    def flaky():
        calls.append(1)
        raise TransientDeliveryError("503")

    with pytest.raises(TransientDeliveryError):
        call_with_retries(flaky, POLICY)
    assert len(calls) == 4


def test_success_after_blips():
    outcomes = iter([TransientDeliveryError("x"), TransientDeliveryError("y"), "ok"])

    def sometimes():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    assert call_with_retries(sometimes, POLICY) == "ok"


def test_permanent_errors_are_not_retried():
    calls = []

    def refused():
        calls.append(1)
        raise PermanentDeliveryError("400")

    with pytest.raises(PermanentDeliveryError):
        call_with_retries(refused, POLICY)
    assert calls == [1]


def test_retry_after_beyond_the_window_ends_the_round_without_sleeping():
    slept = []

    def limited():
        raise TransientDeliveryError("429", retry_after=600)

    with pytest.raises(TransientDeliveryError):
        call_with_retries(limited, POLICY, sleep=slept.append)
    assert slept == []


def test_short_retry_after_is_waited_for():
    slept = []
    outcomes = iter([TransientDeliveryError("429", retry_after=1.5), "ok"])

    def limited():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    assert call_with_retries(limited, POLICY, sleep=slept.append) == "ok"
    assert slept and slept[0] >= 1.5


def test_durable_delay_grows_with_jitter_and_respects_caps():
    policy = RetryPolicy(first_delay_s=1, max_delay_s=3600, window_s=30, attempts=4, give_up_after_s=1e9)
    first = [durable_delay_s(1, None, policy) for _ in range(200)]
    fifth = [durable_delay_s(5, None, policy) for _ in range(200)]
    assert 2 <= min(first) and max(first) <= 4 and len(set(first)) > 100  # jittered
    assert 32 <= min(fifth) <= max(fifth) <= 64
    assert max(durable_delay_s(40, None, policy) for _ in range(50)) <= 3600
    assert durable_delay_s(1, 120, policy) >= 120
    assert durable_delay_s(1, 10**6, policy) == 3600


def test_a_stop_ends_the_in_process_waits_at_once():
    """A stopping worker used to sit out its retries (tenacity's sleep ignored the stop: ~40 s)."""
    import threading

    calls = []

    def fail():
        calls.append(time.monotonic())
        raise TransientDeliveryError("503 from the target", status=503, retry_after=20)

    stop = threading.Event()
    policy = RetryPolicy(first_delay_s=5, max_delay_s=60, window_s=30, attempts=4, give_up_after_s=100)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="503 from the target"):  # the caller reschedules it
        call_with_retries(fail, policy, stop_event=stop)
    assert time.monotonic() - started < 2
    assert len(calls) == 1
    with pytest.raises(TransientDeliveryError):  # already stopping: no wait at all
        started = time.monotonic()
        call_with_retries(fail, policy, stop_event=stop)
    assert time.monotonic() - started < 0.5
