"""What the dry-run target would have sent, kept so a new user can see the mapping work."""

from __future__ import annotations

import json
from typing import Any

from connector.store.db import Db
from connector.store.rows import query_rows, where_equal
from connector.timeutil import now_db


def record_dry_run(
    db: Db,
    shop: str,
    order_id: str,
    kind: str,
    part_id: str | None,
    mapping: str,
    payload: dict[str, Any],
) -> int:
    rows = db.execute(
        "INSERT INTO dry_run_payloads (shop, order_id, kind, part_id, mapping, payload, recorded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [shop, order_id, kind, part_id, mapping, json.dumps(payload, ensure_ascii=False), now_db()],
    ).fetchall()
    return int(rows[0][0])


def list_dry_runs(
    db: Db, shop: str | None = None, order_id: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    where, params = where_equal(shop=shop, order_id=order_id)
    rows = query_rows(db, f"SELECT * FROM dry_run_payloads {where} ORDER BY id DESC LIMIT ?", [*params, limit])
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]
