"""A fulfillment or refund whose order never arrived: how long it waits, and why it stops (pure).

Its delivery waits for the order body (``WaitingError``) — not for retry.give_up_after_s (three
days of "> 15 min" alerts), but ``worker.missing_order_give_up_s``. Meanwhile the worker fetches
the order from Shopify when the shop has an Admin API token (:mod:`connector.resync.scheduler`);
what is still missing then is dead-lettered with a reason that says what to do. Should the order
arrive later after all, its body wakes the order and the part is delivered (``_wake``).
"""

from __future__ import annotations

from connector.worker.retrying import RetryPolicy, durable_delay_s


def wait_delay_s(attempts: int, waited_s: float, policy: RetryPolicy) -> float:
    """The next attempt: the usual backoff, but never past the moment the wait is settled."""
    remaining = policy.missing_order_give_up_s - waited_s
    return max(0.0, min(durable_delay_s(attempts, None, policy), remaining))


def missing_order_reason(order_id: str, waited_s: float, fetched_at: str | None) -> str:
    """Why the wait ended, and what an operator can do about it."""
    waited = f"its order {order_id} never arrived (no orders/* webhook in {waited_s:.0f} s)"
    if fetched_at:
        return (
            f"{waited}, and fetching it from Shopify at {fetched_at} did not bring it (`connector jobs` says "
            "why: deleted, another shop's, older than 60 days without read_all_orders, a refused token): "
            "replay it once the order exists"
        )
    return (
        f"{waited}, and the shop has no Admin API token to fetch it: check the shop's orders/* webhook "
        f"subscriptions, then `connector resync --order {order_id}` with a token, or replay it once the order arrived"
    )
