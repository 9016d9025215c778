"""One poison event never stops the worker for every shop.

Found by an attack run: an order nested 400 levels deep parsed, then redaction raised
``RecursionError``; the worker loop only survived database errors, so it exited — and crashed
again on every restart. Whatever one event or one order does now ends in that event's
``invalid`` state or that order's dead letter, with the reason; the loop goes on.
"""

from __future__ import annotations

import json
import threading
import time

from connector.config import Settings
from connector.store.db import connect
from connector.worker.loop import Worker
from tests.conftest import ORDER_ID, SHOP, live_order
from tests.support import scalar, tuples

OTHER_ORDER = "450789469"


def deep(levels: int) -> dict:
    value: dict = {"leaf": "john@example.com"}
    for _ in range(levels):
        value = {"nested": value}
    return value


def states(db_path: str) -> list[tuple[str, str, str | None]]:
    return tuples(db_path, "SELECT topic, state, reason FROM events ORDER BY id")


def test_a_body_too_deep_for_the_redaction_walkers_does_not_stop_the_worker(post, run_worker, target, db_path):
    """The 400-deep order gets past triage (limit raised), then a customers/redact walks it."""
    poison = json.loads(live_order())
    poison["note_attributes"] = [deep(400)]
    post(json.dumps(poison).encode())
    run_worker(**{"worker.max_json_depth": 10_000})
    redact = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 115310627314723954, "email": "john@example.com"},
              "orders_to_redact": [int(ORDER_ID)]}
    post(json.dumps(redact).encode(), "customers/redact")
    post(live_order(id=int(OTHER_ORDER)), "orders/create")  # an innocent order behind it
    stats = run_worker(**{"worker.max_json_depth": 10_000})
    assert stats.loop_errors == 0
    rows = states(db_path)
    assert rows[1][:2] == ("customers/redact", "handled"), rows  # the request is still honoured
    assert f"/orders/{SHOP}/{OTHER_ORDER}" in target.documents
    body = scalar(db_path, "SELECT body FROM event_bodies WHERE event_id = 1")
    assert b"john@example.com" not in bytes(body)  # the unwalkable body was blanked whole


def test_a_body_beyond_the_depth_limit_is_invalid_at_triage(post, run_worker, target, db_path):
    poison = json.loads(live_order())
    poison["note_attributes"] = [deep(400)]
    post(json.dumps(poison).encode())
    post(live_order(id=int(OTHER_ORDER)), "orders/create")
    run_worker()
    (first, second) = states(db_path)
    assert first[1] == "invalid" and "64 levels" in first[2] and "worker.max_json_depth" in first[2]
    assert second[1] == "delivered" and list(target.documents) == [f"/orders/{SHOP}/{OTHER_ORDER}"]


def test_a_data_request_the_store_cannot_bind_is_invalid_and_triage_goes_on(post, run_worker, target, db_path):
    """An email that is a JSON object made the INSERT raise sqlite3.InterfaceError: the worker
    loop took it for a storage failure and retried the same batch for ever, for every shop."""
    body = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 5, "email": {"not": "a string"}},
            "orders_requested": [], "data_request": {"id": 9}}
    post(json.dumps(body).encode(), "customers/data_request")
    post(live_order(), "orders/create")
    stats = run_worker()
    (request, order) = states(db_path)
    assert request[1] == "invalid" and "internal error" in request[2], request
    assert order[1] == "delivered" and stats.delivered == 1


def test_an_order_event_the_store_refuses_is_invalid_and_the_rest_of_its_run_is_folded(post, run_worker, target, db_path):
    """Triage folds a run of order events in one savepoint; one that raises there undoes it, and
    the run is folded again event by event: that one ends invalid, the others as they would."""
    with connect(db_path) as db:  # a row the store refuses, as a constraint or a type would
        db.execute("CREATE TRIGGER refuse_666 BEFORE INSERT ON orders WHEN NEW.order_id = '666' "
                   "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    for order_id in (1001, 666, 1002):
        post(live_order(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}"), "orders/create")
    stats = run_worker()
    first, refused, third = states(db_path)
    assert refused[1] == "invalid" and "internal error in triage" in refused[2] and "refused" in refused[2]
    assert first[1] == third[1] == "delivered" and stats.delivered == 2
    assert tuples(db_path, "SELECT order_id FROM orders ORDER BY order_id") == [("1001",), ("1002",)]


def test_a_continuously_running_worker_survives_poison_and_keeps_delivering(post, settings, target, db_path):
    worker = Worker(Settings({**settings.values, "worker.max_json_depth": 10_000}, settings.shops, settings.source))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        poison = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 5, "email": [1, 2]}, "data_request": {"id": 1}}
        post(json.dumps(poison).encode(), "customers/data_request")
        post(b'{"id": 7, "a":' * 5000 + b"1" + b"}" * 5000, "orders/create")  # too deep even for the parser
        deep_order = json.loads(live_order())
        deep_order["note_attributes"] = [deep(600)]
        post(json.dumps(deep_order).encode(), "orders/updated")
        post(live_order(id=int(OTHER_ORDER)), "orders/create")
        deadline = time.monotonic() + 20
        while f"/orders/{SHOP}/{OTHER_ORDER}" not in target.documents and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive()
        assert f"/orders/{SHOP}/{OTHER_ORDER}" in target.documents
    finally:
        worker.stop()
        thread.join(10)
    assert worker.stats.loop_errors == 0
    assert all(state not in ("new",) for _, state, _ in states(db_path))


def test_an_order_erased_by_shop_redact_in_the_same_batch_is_not_retried(post, run_worker, target, db_path):
    """shop/redact, then an order event of the same shop in one triage batch: the order's row
    used to come back pointing at the erased body, and its delivery retried an AssertionError
    for three days."""
    post(json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode(), "shop/redact")
    post(live_order(), "orders/create")
    post(live_order(id=int(OTHER_ORDER)), "orders/create", shop="other-shop.myshopify.com")
    stats = run_worker()
    db = connect(db_path)
    assert db.execute("SELECT count(*) FROM orders WHERE shop = ?", [SHOP]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    assert stats.retrying == 0 and stats.dead == 0
    assert [topic for topic, *_ in states(db_path)] == ["shop/redact", "orders/create"]  # the other shop's is held
    assert target.documents == {}
    db.close()


def test_an_order_whose_body_is_gone_is_dead_lettered_not_retried(post, run_worker, target, db_path):
    post(live_order())
    db = connect(db_path)
    from connector.worker.triage import triage_new_events

    triage_new_events(db, 10)
    db.execute("DELETE FROM events")  # e.g. erased under a claimed delivery
    stats = run_worker()
    assert stats.retrying == 0 and stats.dead == 1
    (status, error) = db.execute("SELECT status, last_error FROM orders").fetchone()
    assert status == "dead" and "gone" in error
    db.close()
