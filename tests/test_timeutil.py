"""The store's timestamp form: one fixed shape, so SQLite compares the strings as times."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.timeutil import now_db, parse_iso, to_db_time


def test_now_db_has_the_store_form_and_is_now():
    before = datetime.now(UTC)
    value = now_db()
    after = datetime.now(UTC)
    assert len(value) == len(to_db_time(before)) == 27 and value.endswith("Z")
    assert to_db_time(before) <= value <= to_db_time(after)  # text order is time order
    assert before.replace(microsecond=0) <= parse_iso(value) <= after


def test_now_db_keeps_microseconds_and_never_goes_backwards():
    values = [now_db() for _ in range(2000)]
    assert values == sorted(values)
    assert len(set(values)) > 1 and all(v[19] == "." and v[20:26].isdigit() for v in values)
