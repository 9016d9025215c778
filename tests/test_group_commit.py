"""Delivery threads' writes share a SQLite transaction; each thread still sees its own outcome.

Real threads, a real SQLite file (and PostgreSQL, where each write keeps its own transaction):
what one write does wrong undoes that write alone, a failing store undoes them all and tells
each thread, and a thread returns only once its write is committed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from connector.store.db import Db, close_thread_dbs, connect, get_db
from connector.store.group_commit import GroupCommit, commit_write, group_for
from connector.store.migrations import migrate

pytestmark = pytest.mark.both_engines
THREADS = 12


@pytest.fixture
def store(db_path: str) -> Iterator[str]:
    db = connect(db_path)
    migrate(db)
    db.execute("CREATE TABLE grouped (n INTEGER PRIMARY KEY, thread TEXT)")
    db.close()
    yield db_path


def count(db_path: str, sql: str = "SELECT count(*) FROM grouped") -> int:
    db = connect(db_path)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


class Refused(Exception):
    """What a write of ours may raise (a lost lease, say): its own failure."""


def run_threads(db_path: str, write_for: object, writes_each: int = 5) -> dict[int, list[BaseException | None]]:
    """THREADS threads, each committing ``writes_each`` writes through ``commit_write``."""
    outcomes: dict[int, list[BaseException | None]] = {}
    start = threading.Barrier(THREADS)

    def thread(t: int) -> None:
        db = get_db(db_path)
        results: list[BaseException | None] = []
        start.wait()
        try:
            for i in range(writes_each):
                try:
                    commit_write(db, write_for(t, i))  # type: ignore[operator]
                    results.append(None)
                except BaseException as exc:  # noqa: BLE001 - what this thread was told
                    results.append(exc)
        finally:
            close_thread_dbs()
        outcomes[t] = results

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def insert(t: int, i: int, fail: bool = False):  # type: ignore[no-untyped-def]
    def write(db: Db) -> None:
        db.execute("INSERT INTO grouped (n, thread) VALUES (?, ?)", [t * 1000 + i, str(threading.get_ident())])
        db.execute("INSERT INTO grouped (n, thread) VALUES (?, ?)", [t * 1000 + i + 500, "second row"])
        if fail:
            raise Refused(f"write {t}/{i} refused")

    return write


def test_every_write_is_committed_when_its_thread_returns(store: str, engine: str) -> None:
    group = group_for(store)
    before = group.transactions
    outcomes = run_threads(store, insert)
    assert all(result is None for results in outcomes.values() for result in results)
    assert count(store) == THREADS * 5 * 2
    if engine == "sqlite":  # twelve threads at once: some of their writes shared a transaction
        assert group.transactions - before < THREADS * 5


@pytest.mark.sqlite_only
def test_every_group_is_committed_on_one_connection_of_the_process(store: str) -> None:
    """Not on each leader's own: SQLite drops a connection's page cache when another connection
    has written, and a group commit on the leader's connection read its pages again each time."""
    used: list[sqlite3.Connection] = []

    def noting(t: int, i: int):  # type: ignore[no-untyped-def]
        write = insert(t, i)

        def noted(db: Db) -> None:
            used.append(db.conn)  # type: ignore[attr-defined]
            write(db)

        return noted

    outcomes = run_threads(store, noting)
    assert all(result is None for results in outcomes.values() for result in results)
    assert len(used) == THREADS * 5 and len({id(conn) for conn in used}) == 1
    assert count(store) == THREADS * 5 * 2


def test_a_refused_write_undoes_itself_alone_and_its_thread_is_told(store: str) -> None:
    outcomes = run_threads(store, lambda t, i: insert(t, i, fail=(t % 3 == 0 and i == 2)))
    for t, results in outcomes.items():
        for i, result in enumerate(results):
            if t % 3 == 0 and i == 2:
                assert isinstance(result, Refused) and str(result) == f"write {t}/{i} refused"
            else:
                assert result is None
    refused = THREADS // 3
    assert count(store) == (THREADS * 5 - refused) * 2  # both rows of each refused write undone, no more


@pytest.mark.sqlite_only
def test_a_failing_store_undoes_the_whole_transaction_and_tells_every_writer(store: str) -> None:
    """A store failure inside one write of a group: the transaction is in doubt, so nobody's
    write stands and every thread gets the error (its delivery retries the step)."""
    group = GroupCommit()
    release = threading.Event()
    errors: list[BaseException] = []

    connections: list[sqlite3.Connection] = []

    def blocking(db: Db) -> None:  # holds the leader while the others queue behind it
        connections.append(db.conn)  # type: ignore[attr-defined]
        release.wait(5)
        db.execute("INSERT INTO grouped (n, thread) VALUES (1, 'first')")

    def broken(db: Db) -> None:
        connections.append(db.conn)  # type: ignore[attr-defined]
        db.execute("INSERT INTO grouped (n, thread) VALUES (2, 'queued')")
        raise sqlite3.OperationalError("disk I/O error")

    def queued(write) -> None:  # type: ignore[no-untyped-def]
        try:
            group.run(get_db(store), write)
        except BaseException as exc:  # noqa: BLE001 - what this thread was told
            errors.append(exc)
        finally:
            close_thread_dbs()

    leader = threading.Thread(target=queued, args=(blocking,))
    leader.start()
    while not group._turns._leading:  # until the first write leads
        time.sleep(0.001)
    others = [threading.Thread(target=queued, args=(w,)) for w in (broken, insert(7, 1), insert(8, 1))]
    for t in others:
        t.start()
    while len(group._turns._queued) < 3:  # until all three queued behind the leader
        time.sleep(0.001)
    release.set()
    for t in [leader, *others]:
        t.join()
    close_thread_dbs()
    # The leader's own transaction held only its write; the three queued ones shared the next.
    assert group.transactions == 2 and group.writes == 4
    assert sorted(type(e).__name__ for e in errors) == ["OperationalError"] * 3
    assert count(store, "SELECT count(*) FROM grouped WHERE n <> 1") == 0
    assert count(store, "SELECT count(*) FROM grouped WHERE n = 1") == 1
    # The connection that failed is not used again: the next group opens another.
    seen: list[sqlite3.Connection] = []
    group.run(get_db(store), lambda db: seen.append(db.conn))  # type: ignore[attr-defined]
    close_thread_dbs()
    assert seen and seen[0] not in connections
