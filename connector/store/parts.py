"""An order's parts (fulfillments, refunds): what the target holds of each, and what is known.

The part's queueing and its delivered state live with the order (:mod:`.orders`: they change
the order's work in the same statements); here is what concerns the parts alone.
"""

from __future__ import annotations

from connector.store.db import Db


def record_part_items(db: Db, shop: str, kind: str, part_id: str, remote_id: str | None, remote_items: str) -> None:
    """What a part's delivery did at the target before it failed half-way (each parcel it made,
    changed or deleted), so the retry repeats none of it. Its state stays undelivered."""
    db.execute(
        "UPDATE order_parts SET remote_id = ?, remote_items = ? WHERE shop = ? AND kind = ? AND part_id = ?",
        [remote_id, remote_items, shop, kind, part_id],
    )


def newest_updated_at_by_part(db: Db, shop: str, kind: str, part_ids: list[str]) -> dict[str, str | None]:
    """``part id → newest_updated_at`` for the parts of ``shop`` that have sync state."""
    out: dict[str, str | None] = {}
    for start in range(0, len(part_ids), 500):  # stay under SQLite's variable limit
        chunk = part_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for part_id, updated in db.execute(
            f"SELECT part_id, newest_updated_at FROM order_parts WHERE shop = ? AND kind = ? AND part_id IN ({marks})",
            [shop, kind, *chunk],
        ):
            out[part_id] = updated
    return out
