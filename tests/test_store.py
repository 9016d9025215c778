"""The store's functions, called directly against a real store (one test per behaviour), on
SQLite and on PostgreSQL.

The rest of the suite reaches the store through the web app and the worker; these tests pin
what each function promises on its own, including the transaction rule of ``connector.store``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator

import pytest
import sqlite_utils

from connector.store import events as event_store
from connector.store import failures as failure_store
from connector.store import jobs as job_store
from connector.store import orders as order_store
from connector.store import privacy as privacy_store
from connector.store import shops as shop_store
from connector.store.app_state import get_or_create_value, get_value, read_probe
from connector.store.db import STORE_ERRORS, connect, savepoint, write_transaction
from connector.store.dry_run import list_dry_runs, record_dry_run
from connector.store.holds import DeliveryScope
from connector.store.migrations import migrate
from connector.store.oauth_states import consume_oauth_state, create_oauth_state
from tests.support import SHOP

OTHER_SHOP = "other-shop.myshopify.com"
ORDER = "1001"


pytestmark = pytest.mark.both_engines


@pytest.fixture
def db(db_path: str) -> Iterator[sqlite_utils.Database]:
    database = connect(db_path)
    migrate(database)
    shop_store.add_shop(database, SHOP, "config")
    yield database
    database.close()


def store_event(db: sqlite_utils.Database, key: str, topic: str = "orders/updated", shop: str = SHOP,
                body: bytes = b"{}") -> int:
    event_id, duplicate = event_store.save_event(db, event_store.NewEvent(shop, topic, key, body))
    assert not duplicate and event_id is not None
    return event_id


def fold(db: sqlite_utils.Database, updated_at: str, key: str | None = None, order_id: str = ORDER) -> tuple[str, str | None]:
    """Store an order body event and fold it into the sync state, as triage does."""
    event_id = store_event(db, key or updated_at)
    with write_transaction(db):
        return order_store.queue_order_snapshot(db, SHOP, order_id, event_id, updated_at)


def claim(db: sqlite_utils.Database, owner: str = "w1", lease_s: float = 60, exclude: set[tuple[str, str]] = frozenset()) -> list[tuple[str, str]]:
    with write_transaction(db):
        return order_store.claim_due_orders(db, owner, 10, lease_s, exclude, scope=DeliveryScope(all_shops=True))


def dead_order(db: sqlite_utils.Database, order_id: str = ORDER) -> int:
    fold(db, "2026-01-01T00:00:00.000000Z", key=f"dead-{order_id}", order_id=order_id)
    with write_transaction(db):
        db.execute("UPDATE events SET state = 'queued', order_id = ? WHERE dedupe_key = ?", [order_id, f"dead-{order_id}"])
        return failure_store.dead_letter(db, SHOP, order_id, "HTTP 400: refused", 400)


# -- events -------------------------------------------------------------------------------------
def test_save_event_stores_a_delivery_once(db):
    event = event_store.NewEvent(SHOP, "orders/create", "event-1", b'{"id": 1}')
    first_id, first_duplicate = event_store.save_event(db, event)
    assert (first_id, first_duplicate) == (1, False)
    assert event_store.save_event(db, event) == (None, True)
    assert event_store.save_event(db, event_store.NewEvent(SHOP, "orders/updated", "event-1", b"{}"))[1] is False
    assert event_store.fetch_event_body(db, first_id) == b'{"id": 1}'


def test_still_new_event_ids_leaves_out_triaged_events(db):
    first, second = store_event(db, "a"), store_event(db, "b")
    event_store.set_event_state(db, first, "queued")
    assert event_store.still_new_event_ids(db, [first, second]) == {second}


def test_release_held_events_sends_only_that_shops_held_events_back_to_triage(db):
    mine, theirs = store_event(db, "a"), store_event(db, "b", shop=OTHER_SHOP)
    event_store.set_event_state(db, mine, "held", "unknown shop")
    event_store.set_event_state(db, theirs, "held", "unknown shop")
    assert event_store.release_held_events(db, SHOP) == 1
    assert [row["id"] for row in event_store.fetch_new_events(db, 10)] == [mine]


def test_pruning_keeps_open_events_and_the_newest_body_of_each_order(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    fold(db, "2026-01-02T00:00:00.000000Z")
    first, newest = 1, 2
    finished, held = store_event(db, "ignored", topic="products/update"), store_event(db, "held")
    suspect, waiting = store_event(db, "suspect"), store_event(db, "queued")
    event_store.set_event_state(db, first, "delivered")
    event_store.set_event_state(db, newest, "delivered")
    event_store.set_event_state(db, finished, "ignored")
    event_store.set_event_state(db, held, "held")
    event_store.set_event_state(db, suspect, "suspect")
    event_store.set_event_state(db, waiting, "queued")
    assert event_store.prune_events(db, older_than_s=3600) == 0
    # batches of one, each committed; held (a shop that never installed) and suspect events go too
    assert event_store.prune_events(db, older_than_s=0, batch=1) == 4
    assert [r[0] for r in db.execute("SELECT id FROM events ORDER BY id")] == [newest, waiting]


# -- orders: folding, leases --------------------------------------------------------------------
def test_the_newest_state_of_an_order_wins_whatever_the_arrival_order(db):
    assert fold(db, "2026-01-02T00:00:00.000000Z") == ("queued", None)
    state, reason = fold(db, "2026-01-01T00:00:00.000000Z")
    assert state == "superseded" and "newer state" in reason
    assert fold(db, "2026-01-03T00:00:00.000000Z") == ("queued", None)
    work = order_store.load_order_work(db, SHOP, ORDER)
    assert (work.snapshot_event_id, work.snapshot_updated_at) == (3, "2026-01-03T00:00:00.000000Z")


@pytest.mark.sqlite_only  # SQLite's statement trace; the folding tests around it run on both engines
def test_the_first_body_of_an_order_creates_its_row_due_in_one_statement(db):
    event_id = store_event(db, "first")
    label = order_store.OrderLabel("#1001", "1001", "2026-01-01T08:00:00Z")
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        with write_transaction(db):
            assert order_store.queue_order_snapshot(
                db, SHOP, ORDER, event_id, "2026-01-01T09:00:00Z", silent=True, label=label
            ) == ("queued", None)
    finally:
        db.conn.set_trace_callback(None)
    assert [s.split(" (")[0] for s in statements if "orders" in s] == ["INSERT INTO orders"]
    row = order_store.get_order(db, SHOP, ORDER)
    assert (row["status"], row["has_work"], row["attempts"], row["first_failed_at"]) == ("pending", 1, 0, None)
    assert (row["newest_event_id"], row["newest_updated_at"], row["silent"]) == (event_id, "2026-01-01T09:00:00Z", 1)
    assert (row["name"], row["order_number"], row["placed_at"]) == ("#1001", "1001", "2026-01-01T08:00:00Z")
    assert claim(db) == [(SHOP, ORDER)]  # due now
    # The next body of the order finds its row and folds as before: newer wins, older is superseded.
    assert fold(db, "2026-01-01T10:00:00Z") == ("queued", None)
    assert fold(db, "2026-01-01T09:30:00Z")[0] == "superseded"


def test_a_state_older_than_the_delivered_one_is_stale(db):
    fold(db, "2026-01-02T00:00:00.000000Z")
    with write_transaction(db):
        order_store.record_snapshot_delivered(db, SHOP, ORDER, 1, "2026-01-02T00:00:00.000000Z", "hash", "remote-1")
        order_store.finish_success(db, SHOP, ORDER)
    assert order_store.get_order(db, SHOP, ORDER)["status"] == "synced"
    state, reason = fold(db, "2026-01-01T00:00:00.000000Z")
    assert state == "stale" and "older than delivered" in reason


def test_a_deleted_order_takes_no_later_state(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    with write_transaction(db):
        assert order_store.queue_order_delete(db, SHOP, ORDER) == ("queued", None)
        assert order_store.queue_order_delete(db, SHOP, ORDER)[0] == "superseded"
    assert fold(db, "2026-01-05T00:00:00.000000Z")[0] == "stale"
    assert order_store.load_order_work(db, SHOP, ORDER).delete_pending


def test_parts_fold_newest_first_and_join_their_orders_work(db):
    event_ids = [store_event(db, f"part-{i}", topic="fulfillments/update") for i in range(2)]
    with write_transaction(db):
        assert order_store.queue_part(db, SHOP, ORDER, "fulfillment", "77", event_ids[1], "2026-01-02T00:00:00Z")[0] == "queued"
        assert order_store.queue_part(db, SHOP, ORDER, "fulfillment", "77", event_ids[0], "2026-01-01T00:00:00Z")[0] == "superseded"
    (part,) = order_store.load_order_work(db, SHOP, ORDER).parts
    assert (part.kind, part.part_id, part.newest_event_id) == ("fulfillment", "77", event_ids[1])


def test_claim_leases_due_orders_once_and_an_expired_lease_is_taken_over(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    assert claim(db, "w1", lease_s=0.2) == [(SHOP, ORDER)]
    assert claim(db, "w2") == []  # leased
    db.execute("UPDATE orders SET lease_until = '2000-01-01T00:00:00.000000Z'")  # w1 crashed long ago
    assert claim(db, "w2", exclude={(SHOP, ORDER)}) == []  # busy in this worker
    assert claim(db, "w2") == [(SHOP, ORDER)]
    assert order_store.get_order(db, SHOP, ORDER)["lease_owner"] == "w2"


def test_only_the_lease_holder_extends_it_and_uninstalled_shops_are_not_claimed(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    claim(db, "w1", lease_s=5)
    before = order_store.get_order(db, SHOP, ORDER)["lease_until"]
    order_store.extend_lease(db, SHOP, ORDER, "someone-else", 600)
    assert order_store.get_order(db, SHOP, ORDER)["lease_until"] == before
    order_store.extend_lease(db, SHOP, ORDER, "w1", 600)
    assert order_store.get_order(db, SHOP, ORDER)["lease_until"] > before
    order_store.finish_transient(db, SHOP, ORDER, "HTTP 503", retry_in_s=0)
    shop_store.mark_uninstalled(db, SHOP)
    assert claim(db, "w2") == []


def test_the_order_list_shows_synced_orders_newest_first_and_never_synced_ones_last(db):
    for order_id in ("1", "2", "3"):
        fold(db, "2026-01-01T00:00:00.000000Z", key=f"k{order_id}", order_id=order_id)
    db.execute("UPDATE orders SET last_synced_at = '2026-01-02T00:00:00.000000Z' WHERE order_id = '1'")
    db.execute("UPDATE orders SET last_synced_at = '2026-01-03T00:00:00.000000Z' WHERE order_id = '3'")
    assert [row["order_id"] for row in order_store.list_orders(db, SHOP)] == ["3", "1", "2"]


def test_held_and_retrying_orders_are_released_in_one_statement_each(db):
    from connector.store import holds, shop_orders

    for order_id in ("1", "2", "3"):
        fold(db, "2026-01-01T00:00:00.000000Z", key=f"k{order_id}", order_id=order_id)
    db.execute("UPDATE orders SET status = 'held', next_attempt_at = ? WHERE order_id IN ('1', '2')", [holds.FAR_FUTURE])
    db.execute("UPDATE orders SET status = 'retrying', next_attempt_at = ? WHERE order_id = '3'", [holds.FAR_FUTURE])
    assert holds.release_held_orders(db, "other-shop.myshopify.com") == 0
    assert holds.release_held_orders(db, SHOP) == 2  # outside a transaction: the statement is whole
    assert shop_orders.retry_now(db, SHOP, "2") == 0  # pending now, not retrying
    assert shop_orders.retry_now(db, SHOP) == 1
    rows = db.query_rows("SELECT status, next_attempt_at FROM orders ORDER BY order_id")
    assert [r["status"] for r in rows] == ["pending", "pending", "retrying"]
    assert all(r["next_attempt_at"] < holds.FAR_FUTURE for r in rows)


def test_a_triage_batch_creates_and_locks_its_orders_and_parts_at_once(db):
    with write_transaction(db):
        order_store.lock_orders(db, [(SHOP, "1"), (SHOP, "2")])
        order_store.lock_orders(db, [(SHOP, "2"), (SHOP, "3")])  # an existing one is kept as it is
        order_store.lock_parts(db, [(SHOP, "fulfillment", "f1", "1"), (SHOP, "refund", "r1", "3")])
    assert [r[0] for r in db.execute("SELECT order_id FROM orders ORDER BY order_id")] == ["1", "2", "3"]
    parts = db.query_rows("SELECT kind, part_id, order_id, newest_event_id FROM order_parts ORDER BY part_id")
    assert parts == [{"kind": "fulfillment", "part_id": "f1", "order_id": "1", "newest_event_id": None},
                     {"kind": "refund", "part_id": "r1", "order_id": "3", "newest_event_id": None}]
    assert fold(db, "2026-01-01T00:00:00.000000Z", order_id="2")[0] == "queued"  # an ordinary new order


def test_a_transient_failure_reschedules_and_keeps_when_failures_began(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    order_store.finish_transient(db, SHOP, ORDER, "HTTP 503", retry_in_s=3600)
    first = order_store.failing_since(db, SHOP, ORDER)
    order_store.finish_transient(db, SHOP, ORDER, "HTTP 503 again", retry_in_s=3600)
    row = order_store.get_order(db, SHOP, ORDER)
    assert (row["status"], row["attempts"], row["last_error"]) == ("retrying", 2, "HTTP 503 again")
    assert order_store.failing_since(db, SHOP, ORDER) == first
    assert claim(db) == []  # not due before its backoff


# -- failures -----------------------------------------------------------------------------------
def test_dead_letter_parks_the_order_and_replay_queues_it_again_once(db):
    failure_id = dead_order(db)
    assert order_store.get_order(db, SHOP, ORDER)["status"] == "dead"
    assert [f["id"] for f in failure_store.list_failures(db)] == [failure_id]
    assert failure_store.count_open_failures(db) == 1
    with write_transaction(db):
        replayed = failure_store.replay_failure(db, failure_id)
    assert replayed["order_id"] == ORDER
    assert order_store.get_order(db, SHOP, ORDER)["status"] == "pending"
    assert db.execute("SELECT state FROM events WHERE dedupe_key = ?", [f"dead-{ORDER}"]).fetchone()[0] == "queued"
    assert failure_store.count_open_failures(db) == 0
    with write_transaction(db):
        assert failure_store.replay_failure(db, failure_id) is None


def test_replay_shop_queues_every_open_failure_of_the_shop(db):
    dead_order(db, "1")
    dead_order(db, "2")
    with write_transaction(db):
        assert failure_store.replay_shop(db, OTHER_SHOP) == 0
        assert failure_store.replay_shop(db, SHOP) == 2
    assert failure_store.list_failures(db) == []
    assert len(failure_store.list_failures(db, include_replayed=True)) == 2


def test_inside_functions_join_the_callers_transaction_and_roll_back_with_it(db):
    failure_id = dead_order(db)
    with pytest.raises(RuntimeError):
        with write_transaction(db):
            failure_store.replay_failure(db, failure_id)
            raise RuntimeError("the caller fails after the replay")
    assert order_store.get_order(db, SHOP, ORDER)["status"] == "dead"
    assert failure_store.count_open_failures(db) == 1


# -- jobs ---------------------------------------------------------------------------------------
def new_job(db: sqlite_utils.Database, owner: str = "runner-1", lease_s: float = 60) -> str:
    return job_store.create_job(db, "resync", SHOP, {"order_ids": []}, owner, lease_s)


def page(db: sqlite_utils.Database, job_id: str, owner: str, keys: list[str], cursor: str | None) -> tuple[int, int, int]:
    events = [event_store.NewEvent(SHOP, "orders/updated", key, b"{}", source="resync") for key in keys]
    with write_transaction(db):
        return job_store.record_page(db, job_id, owner, 60, events, cursor, 0, len(keys), recovered_keys={keys[0]})


def test_a_new_job_is_leased_by_its_creator_only(db):
    job_id = new_job(db)
    assert job_store.claim_job(db, job_id, "intruder", 60) is None
    job = job_store.claim_job(db, job_id, "runner-1", 60)
    assert (job["status"], job["lease_owner"]) == ("running", "runner-1")
    assert job_store.orphaned_job_ids(db) == []


def test_a_page_stores_its_events_and_moves_the_cursor_and_a_repeated_page_counts_nothing(db):
    job_id = new_job(db)
    assert page(db, job_id, "runner-1", ["k1", "k2"], "cursor-1") == (2, 0, 1)
    assert page(db, job_id, "runner-1", ["k1", "k2"], "cursor-1") == (0, 2, 0)
    job = job_store.get_job(db, job_id)
    assert (job["cursor"], job["pages"], job["queued"], job["duplicates"], job["recovered"]) == ("cursor-1", 2, 2, 2, 1)


def test_a_runner_that_lost_its_lease_writes_nothing(db):
    job_id = new_job(db, lease_s=-1)  # lapsed at once
    assert job_store.claim_job(db, job_id, "runner-2", 60) is not None
    with pytest.raises(job_store.LeaseLostError):
        page(db, job_id, "runner-1", ["k1"], "cursor-1")
    assert event_store.fetch_new_events(db, 10) == []
    assert job_store.get_job(db, job_id)["pages"] == 0


def test_a_released_job_is_orphaned_and_a_finished_one_is_not(db):
    job_id = new_job(db)
    job_store.release_job(db, job_id, "runner-1")
    assert job_store.orphaned_job_ids(db) == [job_id]
    assert job_store.open_job_for(db, SHOP, "resync") == job_id
    job_store.claim_job(db, job_id, "runner-2", 60)
    job_store.finish_job(db, job_id, "runner-2", "done")
    assert job_store.orphaned_job_ids(db) == [] and job_store.open_job_for(db, SHOP, "resync") is None
    assert job_store.claim_job(db, job_id, "runner-2", 60) is None


# -- OAuth state --------------------------------------------------------------------------------
def test_an_oauth_state_is_good_once_and_only_for_its_shop(db):
    create_oauth_state(db, "nonce-1", SHOP, ttl_s=600)
    assert consume_oauth_state(db, "nonce-1", SHOP) is True
    assert consume_oauth_state(db, "nonce-1", SHOP) is False
    create_oauth_state(db, "nonce-2", SHOP, ttl_s=600)
    assert consume_oauth_state(db, "nonce-2", OTHER_SHOP) is False
    assert consume_oauth_state(db, "nonce-2", SHOP) is False  # burnt by the wrong shop's attempt
    assert consume_oauth_state(db, "", SHOP) is False


def test_an_expired_oauth_state_is_refused_and_pruned(db):
    create_oauth_state(db, "old", SHOP, ttl_s=-1)
    assert consume_oauth_state(db, "old", SHOP) is False
    create_oauth_state(db, "stale", SHOP, ttl_s=-1)
    create_oauth_state(db, "fresh", SHOP, ttl_s=600)  # prunes "stale"
    assert [r[0] for r in db.execute("SELECT state FROM oauth_states")] == ["fresh"]


# -- shops --------------------------------------------------------------------------------------
def test_uninstall_drops_the_token_and_a_new_install_starts_a_new_installation(db):
    shop_store.save_shop_tokens(db, OTHER_SHOP, "oauth", "enc-token", "read_orders", "enc-refresh", "2030-01-01T00:00:00.000000Z")
    first = shop_store.get_shop(db, OTHER_SHOP)
    assert shop_store.is_known_shop(db, OTHER_SHOP) and first["access_token"] == "enc-token"
    shop_store.mark_uninstalled(db, OTHER_SHOP)
    shop_store.mark_uninstalled(db, OTHER_SHOP)  # idempotent
    gone = shop_store.get_shop(db, OTHER_SHOP)
    assert (gone["access_token"], gone["refresh_token"]) == (None, None) and gone["uninstalled_at"]
    assert OTHER_SHOP not in shop_store.known_shops(db)
    shop_store.save_shop_tokens(db, OTHER_SHOP, "oauth", "enc-token-2", None)
    again = shop_store.get_shop(db, OTHER_SHOP)
    assert again["uninstalled_at"] is None and again["installed_at"] >= first["installed_at"]
    assert again["scopes"] == "read_orders"  # kept when the grant names none


def test_refreshed_tokens_are_stored_only_by_the_holder_of_the_current_refresh_token(db):
    shop_store.save_shop_tokens(db, OTHER_SHOP, "oauth", "access-1", None, "refresh-1", "2030-01-01T00:00:00.000000Z")
    assert shop_store.replace_refreshed_tokens(db, OTHER_SHOP, "refresh-1", "access-2", "refresh-2", None) is True
    assert shop_store.replace_refreshed_tokens(db, OTHER_SHOP, "refresh-1", "access-3", "refresh-3", None) is False
    assert shop_store.get_shop(db, OTHER_SHOP)["access_token"] == "access-2"
    shop_store.mark_uninstalled(db, OTHER_SHOP)
    assert shop_store.replace_refreshed_tokens(db, OTHER_SHOP, "refresh-2", "access-4", None, None) is False


def test_configured_shops_are_added_and_come_back_but_an_uninstalled_oauth_shop_stays_out(db):
    shop_store.save_shop_tokens(db, OTHER_SHOP, "oauth", "t", None)
    shop_store.mark_uninstalled(db, OTHER_SHOP)
    shop_store.mark_uninstalled(db, SHOP)
    shop_store.sync_config_shops(db, [SHOP, OTHER_SHOP, "new-shop.myshopify.com"])
    assert shop_store.known_shops(db) == {SHOP, "new-shop.myshopify.com"}
    assert shop_store.set_scopes(db, SHOP, "read_orders") is True
    assert shop_store.set_scopes(db, "nobody.myshopify.com", "read_orders") is False
    assert all("access_token" not in row for row in shop_store.list_shops(db))


# -- privacy, app state, dry run ----------------------------------------------------------------
def test_erase_shop_deletes_everything_of_that_shop_only(db):
    fold(db, "2026-01-01T00:00:00.000000Z")
    store_event(db, "redact-1", topic="shop/redact")
    store_event(db, "theirs", shop=OTHER_SHOP)
    record_dry_run(db, SHOP, ORDER, "order", None, "neutral", {"email": "a@example.com"})
    with write_transaction(db):
        counts = privacy_store.erase_shop(db, SHOP)
    assert (counts["events"], counts["orders"], counts["dry_run_payloads"]) == (1, 1, 1)
    assert counts["shops"] == 0  # still installed: its row and token stay
    assert [r[0] for r in db.execute("SELECT topic FROM events WHERE shop = ?", [SHOP])] == ["shop/redact"]
    assert db.execute("SELECT count(*) FROM events WHERE shop = ?", [OTHER_SHOP]).fetchone()[0] == 1


def test_error_texts_are_read_and_rewritten_by_table(db):
    dead_order(db)
    texts = privacy_store.error_texts(db, SHOP)
    assert {table for table, _, _ in texts} == {"failures", "orders"}
    for table, key, _ in texts:
        privacy_store.set_error_text(db, SHOP, table, key, "[redacted]")
    assert {text for _, _, text in privacy_store.error_texts(db, SHOP)} == {"[redacted]"}


def test_get_or_create_value_keeps_the_first_value(db):
    assert get_or_create_value(db, "dev_api_secret", lambda: "first") == "first"
    assert get_or_create_value(db, "dev_api_secret", lambda: "second") == "first"
    assert get_value(db, "missing") is None


def test_the_ready_probe_only_reads(db, db_path):
    """/readyz runs it every few seconds: it works on a read-only connection and changes nothing."""
    before = db.execute("SELECT key, value FROM app_state ORDER BY key").fetchall()
    if db.dialect.name == "sqlite":
        readonly = sqlite_utils.Database(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True))
    else:  # what a read-only standby (or a read-only role) answers
        readonly = connect(db_path + "?options=-c%20default_transaction_read_only%3Don")
    try:
        read_probe(readonly)
        read_probe(db)
    finally:
        readonly.close()
    assert db.execute("SELECT key, value FROM app_state ORDER BY key").fetchall() == before
    empty = sqlite_utils.Database(sqlite3.connect(":memory:"))
    try:
        with pytest.raises(STORE_ERRORS):
            read_probe(empty)  # no schema: not ready
    finally:
        empty.close()


def test_dry_run_payloads_are_listed_newest_first_by_order(db):
    record_dry_run(db, SHOP, "1", "order", None, "neutral", {"n": 1})
    record_dry_run(db, SHOP, "2", "order", None, "neutral", {"n": 2})
    record_dry_run(db, SHOP, "1", "fulfillment", "9", "neutral", {"n": 3})
    assert [row["payload"]["n"] for row in list_dry_runs(db, order_id="1")] == [3, 1]
    assert [row["payload"]["n"] for row in list_dry_runs(db, limit=1)] == [3]


def test_a_shop_lock_is_held_by_one_owner_until_released_or_expired(db):
    from connector.store.shop_locks import release_shop_lock, take_shop_lock

    assert take_shop_lock(db, SHOP, "token_exchange", "a", 30)
    assert not take_shop_lock(db, SHOP, "token_exchange", "b", 30)
    assert take_shop_lock(db, "other.myshopify.com", "token_exchange", "b", 30)  # per shop
    release_shop_lock(db, SHOP, "token_exchange", "b")  # not b's: nothing happens
    assert not take_shop_lock(db, SHOP, "token_exchange", "b", 30)
    release_shop_lock(db, SHOP, "token_exchange", "a")
    assert take_shop_lock(db, SHOP, "token_exchange", "b", -1)  # taken, already expired
    assert take_shop_lock(db, SHOP, "token_exchange", "c", 30)  # a dead holder never blocks for long


def test_orders_of_a_shop_without_an_account_are_held_out_of_the_claim_and_released(db):
    from connector.store import holds, shop_settings

    fold(db, "2026-01-01T00:00:00.000000Z")
    with write_transaction(db):  # no account and no switch: held, not claimed
        assert order_store.claim_due_orders(db, "w1", 10, 60, scope=DeliveryScope()) == []
    assert db.execute("SELECT status, next_attempt_at FROM orders").fetchone() == ("held", holds.FAR_FUTURE)
    with write_transaction(db):  # still nothing to scan: held orders are past the due range
        assert holds.hold_undeliverable(db, DeliveryScope(), "2026-06-01T00:00:00.000000Z") == 0
    shop_settings.save_shop_settings(db, SHOP, "foxdeli", {}, "ciphertext", {}, reset_check=True)
    assert holds.release_held_orders(db, SHOP) == 1
    with write_transaction(db):
        assert order_store.claim_due_orders(db, "w1", 10, 60, scope=DeliveryScope()) == [(SHOP, ORDER)]


def test_a_refused_account_holds_its_shop_until_the_recheck(db):
    from connector.store import shop_settings
    from connector.timeutil import db_time_in

    fold(db, "2026-01-01T00:00:00.000000Z")
    shop_settings.record_account_check(db, SHOP, False, "HTTP 401 Bad credentials", db_time_in(3600))
    with write_transaction(db):
        assert order_store.claim_due_orders(db, "w1", 10, 60, scope=DeliveryScope(assigned=frozenset({SHOP}))) == []
    assert shop_settings.shops_due_for_recheck(db) == []
    shop_settings.record_account_check(db, SHOP, False, "HTTP 401 Bad credentials", db_time_in(-1))
    assert shop_settings.shops_due_for_recheck(db) == [SHOP]
    shop_settings.start_recheck(db, [SHOP])
    from connector.store.holds import release_held_orders

    release_held_orders(db, SHOP)
    with write_transaction(db):
        assert order_store.claim_due_orders(db, "w1", 10, 60, scope=DeliveryScope(assigned=frozenset({SHOP}))) == [(SHOP, ORDER)]


@pytest.mark.sqlite_only
def test_every_connection_zeroes_freed_space(db):
    """An updated event's old copy must not outlive a customers/redact, whatever the build default."""
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def _sqlite_temp_files() -> list[str]:
    """The temporary files SQLite holds open in this process (it names them ``etilqs_…``)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # a descriptor closed meanwhile
            target = os.readlink(f"/proc/self/fd/{fd}")
            if "etilqs_" in target:
                held.append(target)
    return held


@pytest.mark.sqlite_only
def test_a_savepoint_keeps_its_journal_in_memory(db):
    """Each write of a group commit, and each run of triage, is a savepoint: SQLite journals the
    pages it changes again so that it can be undone alone, past 64 KB in a temporary file by
    default, two writes per page (44 of the 57 ``pwrite`` calls per delivered order in
    bench/deliver.py). In memory it costs no system call, and a worker whose temporary
    directory is full or read-only still records its deliveries."""
    assert db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    bodies = [(f"event-{n}", b'{"note": "%s"}' % (b"x" * 3000)) for n in range(40)]
    with write_transaction(db):
        for key, body in bodies:  # ~40 pages changed in the transaction...
            event_store.save_event(db, event_store.NewEvent(SHOP, "orders/create", key, body))
        with savepoint(db, "grouped_write"):  # ...and changed again inside the savepoint
            db.execute("UPDATE event_bodies SET body = CAST(replace(CAST(body AS TEXT), 'x', 'y') AS BLOB)")
            held = _sqlite_temp_files()
    assert held == []
    assert db.execute("SELECT count(*) FROM event_bodies WHERE CAST(body AS TEXT) LIKE '%yyy%'").fetchone()[0] == 40
