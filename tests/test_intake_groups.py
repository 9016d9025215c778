"""Webhooks stored by many app threads at once: grouped commits, each answer its own row."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector.store.db import close_shared_dbs, close_thread_dbs, connect, get_db
from connector.store.events import NewEvent, save_events_at_once
from connector.store.intake import save_webhook_event
from connector.store.migrations import migrate
from tests.support import scalar, tuples

SHOP = "group-shop.myshopify.com"


@pytest.fixture
def path(tmp_path) -> Iterator[str]:
    path = str(tmp_path / "intake.db")
    db = connect(path)
    try:
        migrate(db)
    finally:
        db.close()
    yield path
    close_shared_dbs()  # this process's intake connection


def event(key: str, shop: str | None = SHOP) -> NewEvent:
    return NewEvent(shop=shop, topic="orders/create", dedupe_key=f"webhook:{key}", body=b'{"id": 1}', webhook_id=key)  # type: ignore[arg-type]


def save_all(path: str, events: list[NewEvent], threads: int = 8) -> list[object]:
    """Store ``events`` from ``threads`` threads that start while another connection holds the
    write lock, so that they queue and are written in groups; returns each result or exception."""

    def one(item: NewEvent) -> object:
        try:
            return save_webhook_event(get_db(path), path, item)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            return exc
        finally:
            close_thread_dbs()

    with ThreadPoolExecutor(threads) as pool:
        blocker = connect(path)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # the first writer waits for it; the others queue behind
            futures = [pool.submit(one, item) for item in events]
            time.sleep(0.2)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return [f.result(timeout=30) for f in futures]


def test_every_webhook_gets_its_own_committed_row(path):
    results = save_all(path, [event(f"w{n}") for n in range(200)])
    ids = [r[0] for r in results]  # type: ignore[index]
    assert all(r[1] is False for r in results) and len(set(ids)) == 200  # type: ignore[index]
    stored = dict(tuples(path, "SELECT id, webhook_id FROM events"))
    assert sorted(stored) == sorted(ids) and {stored[i] for i in ids} == {f"w{n}" for n in range(200)}


def test_the_same_delivery_twice_at_once_is_stored_once(path):
    results = save_all(path, [event("same") for _ in range(16)])
    assert sorted(r[1] for r in results) == [False] + [True] * 15  # type: ignore[index]
    assert scalar(path, "SELECT count(*) FROM events") == 1


def test_a_row_the_store_refuses_fails_alone(path):
    events = [event(f"ok{n}") for n in range(20)] + [event("bad", shop=None)] + [event(f"ok{n}") for n in range(20, 40)]
    results = save_all(path, events)
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1 and isinstance(failed[0], sqlite3.IntegrityError)
    assert scalar(path, "SELECT count(*) FROM events") == 40


def test_a_store_that_cannot_write_fails_every_waiting_webhook_and_then_recovers(path):
    blocker = connect(path, busy_timeout_s=0.1)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock past the busy timeout
    try:
        with ThreadPoolExecutor(4) as pool:
            def db_timeout(key: str) -> Any:
                db = connect(path, busy_timeout_s=0.2)
                try:
                    return save_webhook_event(db, path, event(key))
                finally:
                    db.close()
            outcomes = [f.exception(timeout=30) for f in [pool.submit(db_timeout, f"x{n}") for n in range(8)]]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)
    db = connect(path)
    try:
        assert save_webhook_event(db, path, event("after"))[1] is False  # nothing stuck
    finally:
        db.close()
    assert tuples(path, "SELECT webhook_id FROM events") == [("after",)]


def test_one_statement_stores_a_group_and_tells_new_rows_from_duplicates(path):
    db = connect(path)
    try:
        assert save_events_at_once(db, [event("before")]) == [(1, False)]
        results = save_events_at_once(db, [event("a"), event("before"), event("a"), event("c")])
        assert [duplicate for _, duplicate in results] == [False, True, True, False]
        assert results[1][0] is None and results[2][0] is None  # as save_event answers a duplicate
        stored = dict(tuples(path, "SELECT webhook_id, id FROM events"))
        assert results[0][0] == stored["a"] and results[3][0] == stored["c"] and len(stored) == 3
        fresh = save_events_at_once(db, [event(f"n{k}") for k in range(5)])  # no duplicate: ids from the count
        assert [id_ for id_, _ in fresh] == [dict(tuples(path, "SELECT webhook_id, id FROM events"))[f"n{k}"] for k in range(5)]
        assert save_events_at_once(db, [event("a"), event("c")]) == [(None, True), (None, True)]
    finally:
        db.close()
