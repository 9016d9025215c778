"""Each body is parsed once: triage keeps what it parsed for the delivery, which takes it only
when the stored bytes are still the ones parsed, once, within bounds.

The cache alone, then a real worker (real SQLite file, the strict parcelLab stand-in over HTTP)
triaging, and delivering after the stored body changed underneath.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.config import Settings
from connector.sandbox.parcellab import ParcellabStandIn
from connector.store.db import connect
from connector.worker.loop import Worker
from connector.worker.parsed_bodies import MISSING, ParsedBodies
from connector.worker.triage import triage_new_events
from tests.support import fast_settings, live_order

TOKEN = "MTYxMjM0NTpzM2NyM3QtdDBrM24="
ACCOUNT = "1612345"


def test_a_document_is_handed_over_only_for_the_same_bytes_and_only_once() -> None:
    bodies = ParsedBodies()
    document = {"id": 1, "name": "#1001"}
    bodies.keep(7, b'{"id":1,"name":"#1001"}', document)
    assert bodies.take(7, b'{"id":1,"name":"#1001"}') is document
    assert bodies.take(7, b'{"id":1,"name":"#1001"}') is MISSING  # taken: nobody shares it
    bodies.keep(8, b'{"id":2}', {"id": 2})
    assert bodies.take(8, b'{"id":2,"email":null}') is MISSING  # other bytes: parse them
    assert len(bodies) == 0  # and nothing of the event stays


def test_when_full_new_bodies_are_not_kept_and_old_ones_age_out() -> None:
    bodies = ParsedBodies(max_entries=2, max_bytes=10)
    bodies.keep(1, b"1234", 1)
    bodies.keep(2, b"5678", 2)
    bodies.keep(3, b"9", 3)  # two entries already
    assert len(bodies) == 2 and bodies.take(3, b"9") is MISSING
    assert bodies.take(1, b"1234") == 1
    bodies.keep(4, b"abcdefg", 4)  # 4 + 7 bytes > 10
    assert bodies.take(4, b"abcdefg") is MISSING
    bodies.keep(5, b"abc", 5)
    assert bodies.take(5, b"abc") == 5
    ageing = ParsedBodies(max_age_s=0.0)
    ageing.keep(1, b"x", "never taken")  # an event superseded before its delivery
    ageing.keep(2, b"y", "next")
    assert len(ageing) == 1 and ageing.take(2, b"y") == "next"


@pytest.fixture
def pl() -> Iterator[ParcellabStandIn]:
    with ParcellabStandIn(token=TOKEN) as standin:
        yield standin  # type: ignore[misc]
        assert standin.invalid_requests == []


@pytest.fixture
def overrides(db_path: str, pl: ParcellabStandIn) -> dict[str, Any]:
    return fast_settings(
        db_path,
        kind="parcellab",
        base_url=pl.url,
        token=TOKEN,
        account=ACCOUNT,
        client_key="mybrand-a.com",
        auth_scheme="Parcellab-API-Token",
    )


def named(name: str) -> bytes:
    """Shopify's documented order, live, under ``name`` (ids exact)."""
    return live_order().replace(b'"name": "#9999"', f'"name": "{name}"'.encode())


def _triaged(worker: Worker, db_path: str) -> int:
    db = connect(db_path)
    try:
        return triage_new_events(db, 100, worker.rules, parsed=worker.parsed_bodies)
    finally:
        db.close()


@pytest.mark.parametrize("changed", [False, True])
def test_the_delivery_sends_what_the_stored_body_says_now(
    post: Any, settings: Settings, pl: ParcellabStandIn, db_path: str, changed: bool
) -> None:
    post(named("#5001"))
    worker = Worker(settings)
    assert _triaged(worker, db_path) == 1 and len(worker.parsed_bodies) == 1
    if changed:  # rewritten between triage and delivery (as an erasure rewrites what it keeps)
        db = connect(db_path)
        try:
            db.execute("UPDATE event_bodies SET body = ?", [named("#5002")])
        finally:
            db.close()
    assert worker.run(once=True).delivered == 1
    assert [number for _, number in pl.orders] == ["#5002" if changed else "#5001"]
    assert len(worker.parsed_bodies) == 0
