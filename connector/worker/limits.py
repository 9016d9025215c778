"""What one stored event may cost the worker, decided at triage (pure).

A signed 4.5 MB body with 1.5 M line items took the worker 23 s and 723 MB, and four of them
starved every other order for a minute. Shopify's own orders stay far below these limits ("most
shops have a limit of 500 line items",
https://shopify.dev/changelog/order-editing-new-validations-and-handled-usererrors), so an event
beyond them is kept aside as ``invalid`` with a reason naming the limit and its setting, and is
never mapped or sent. Not truncated: a tracking page with half an order would mislead the
customer, and an operator who raises the limit re-syncs the order (``connector resync --order``).

The order of the checks keeps a hostile body cheap: :func:`raw_problem` counts ``{`` and ``[`` in
the raw bytes (a C-speed scan, milliseconds for 5 MB) before anything is parsed;
:func:`document_problem` then walks the parsed body without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.jsonshape import nesting_depth
from connector.shopify import topics

# Real orders hold ~17 JSON objects/arrays per line item (tests/fixtures/orders_many_lines.json:
# 1,095 for 64 lines); the budget allows 3.5 times that, plus room for the order itself.
CONTAINERS_PER_LINE_ITEM = 60
CONTAINERS_BASE = 10_000
LINE_ITEM_KEYS = ("line_items", "refund_line_items")


@dataclass(frozen=True)
class BodyLimits:
    max_line_items: int = 2500
    max_depth: int = 64

    @property
    def max_containers(self) -> int:
        return CONTAINERS_BASE + CONTAINERS_PER_LINE_ITEM * self.max_line_items

    @classmethod
    def from_settings(cls, settings: Any) -> BodyLimits:
        return cls(max_line_items=settings["worker.max_line_items"], max_depth=settings["worker.max_json_depth"])


def raw_problem(raw: bytes, limits: BodyLimits) -> str | None:
    """A reason when the body has more JSON objects and arrays than any real order (before parsing)."""
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > limits.max_containers:
        return (
            f"body holds {containers:,} JSON objects/arrays, more than any order of at most "
            f"{limits.max_line_items:,} line items (worker.max_line_items)"
        )
    return None


def document_problem(topic: str, doc: Any, limits: BodyLimits) -> str | None:
    """A reason when a parsed body nests too deeply or carries too many line items."""
    depth = nesting_depth(doc, limits.max_depth)
    if depth > limits.max_depth:
        return f"body nests more than {limits.max_depth} levels deep (worker.max_json_depth)"
    if isinstance(doc, dict) and topics.is_deliverable(topic):
        for key in LINE_ITEM_KEYS:
            items = doc.get(key)
            if isinstance(items, list) and len(items) > limits.max_line_items:
                return (
                    f"{key} holds {len(items):,} entries; the connector takes at most "
                    f"{limits.max_line_items:,} (worker.max_line_items)"
                )
    return None
