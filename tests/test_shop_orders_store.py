"""The merchant's order list reads an index range: no sort, no scan, whatever the shop's size."""

from __future__ import annotations

import pytest

from connector.store import shop_orders
from connector.store.db import connect
from connector.store.migrations import migrate
from tests.support import SHOP


@pytest.fixture
def db(tmp_path):  # type: ignore[no-untyped-def]
    db = connect(str(tmp_path / "c.db"))  # closed at the end of the test (below)
    migrate(db)
    rows = [(SHOP if i % 3 else "other.myshopify.com", str(10**12 + i), ("synced", "pending", "dead")[i % 3],
             f"2026-11-{i % 28 + 1:02d}T10:00:{i % 60:02d}.000000Z", f"#{i}", str(i)) for i in range(3000)]
    db.conn.executemany(
        "INSERT INTO orders (shop, order_id, status, placed_at, name, order_number, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, '2026-01-01', '2026-01-01')", rows)
    db.execute("ANALYZE")
    yield db
    db.close()


def plan(db, sql: str, params: list) -> str:  # type: ignore[no-untyped-def]
    return " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())


@pytest.mark.parametrize("statuses, index", [((), "orders_placed"), (("dead",), "orders_status_placed")])
def test_a_page_is_an_index_range_without_a_sort(db, statuses, index):
    where = "shop = ?" + (" AND status IN (?)" if statuses else "") + " AND (placed_at, order_id) < (?, ?)"
    sql = f"SELECT {shop_orders.LIST_COLUMNS} FROM orders WHERE {where} ORDER BY placed_at DESC, order_id DESC LIMIT 51"
    text = plan(db, sql, [SHOP, *statuses, "2026-11-20", "9"])
    assert index in text and "(placed_at,order_id)<(?,?)" in text and "TEMP B-TREE" not in text, text


def test_pages_follow_each_other_without_gaps_or_repeats(db):
    seen, after = [], None
    while True:
        page = shop_orders.list_shop_orders(db, SHOP, ("synced", "dead"), after, 97)
        if not page:
            break
        seen += [row["order_id"] for row in page]
        after = (page[-1]["placed_at"], page[-1]["order_id"])
    expected = db.execute("SELECT order_id FROM orders WHERE shop = ? AND status IN ('synced', 'dead') "
                          "ORDER BY placed_at DESC, order_id DESC", [SHOP]).fetchall()
    assert seen == [row[0] for row in expected]


def test_search_by_name_or_number_uses_the_indexes(db):
    sql = (f"SELECT {shop_orders.LIST_COLUMNS} FROM orders WHERE shop = ? AND (name = ? OR order_number = ? OR order_id = ?) "
           "ORDER BY placed_at DESC, order_id DESC LIMIT 50")
    text = plan(db, sql, [SHOP, "#5", "5", "5"])
    assert "SCAN orders" not in text.replace("SCAN orders USING", ""), text
    assert [r["name"] for r in shop_orders.find_shop_orders(db, SHOP, "#5", "5")] == ["#5"]
