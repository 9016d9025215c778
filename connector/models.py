"""The connector's shared vocabulary: states of events, orders and jobs, and one delivery attempt.

The values are what the store holds and what the admin API and CLI show, so they never change
once released; :class:`enum.StrEnum` members compare equal to (and serialise as) those strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

# What an order's part is (a fulfillment or a refund): the store's rows and the targets' calls.
PartKind = Literal["fulfillment", "refund"]


class EventState(enum.StrEnum):
    """Where one stored event is: ``new`` → (``queued`` → ``delivered`` | ``unchanged`` |
    ``skipped`` | ``dead``) | ``stale`` | ``superseded`` | ``ignored`` | ``held`` | ``invalid`` |
    ``suspect`` | ``redacting`` → ``handled`` | ``handled``."""

    NEW = "new"  # stored, not triaged yet
    QUEUED = "queued"  # folded into its order's work, waiting for delivery
    HELD = "held"  # from a shop that is not installed: kept aside, released on install
    DELIVERED = "delivered"
    UNCHANGED = "unchanged"  # delivery skipped: the target already has this payload
    STALE = "stale"  # older than what the target already has
    SUPERSEDED = "superseded"  # a newer state of the same order was already queued
    IGNORED = "ignored"  # a topic the connector does not deliver
    INVALID = "invalid"  # not an order the connector can read (or beyond its limits); kept with its reason
    # Verified, but the body does not fit its headers (another topic's or shop's body) or it came
    # long after Shopify triggered it: a possible replay, kept with the reason, never acted on.
    SUSPECT = "suspect"
    # A customers/redact under way: honoured in short steps (connector.lifecycle.customer_redaction),
    # then ``handled`` with what was redacted.
    REDACTING = "redacting"
    DEAD = "dead"  # its delivery was dead-lettered
    HANDLED = "handled"  # a lifecycle or privacy webhook the connector acted on
    SKIPPED = "skipped"  # the merchant's options left its order out (judged again on its next state)


# Events that still wait for something: triage, delivery, or their shop's install.
OPEN_EVENT_STATES = (EventState.NEW, EventState.QUEUED, EventState.HELD, EventState.REDACTING)
# Events nothing will happen to any more (dead ones wait for a replay, so they are not here).
FINISHED_EVENT_STATES = (
    EventState.DELIVERED,
    EventState.UNCHANGED,
    EventState.STALE,
    EventState.SUPERSEDED,
    EventState.IGNORED,
    EventState.INVALID,
    EventState.SUSPECT,
    EventState.HANDLED,
    EventState.SKIPPED,
)
# What the retention prunes once old enough: the finished events, and events of a shop that
# never installed the app (kept aside, released if it installs within the retention).
PRUNABLE_EVENT_STATES = (*FINISHED_EVENT_STATES, EventState.HELD)


class SyncStatus(enum.StrEnum):
    """An order's sync status, as the admin API and ``connector status`` show it."""

    PENDING = "pending"  # work is due
    SYNCED = "synced"  # the target holds the newest known state
    RETRYING = "retrying"  # the last delivery failed transiently; the next attempt is scheduled
    DEAD = "dead"  # dead-lettered: waits for a person (replay) or a newer Shopify state
    # Work waits for the shop: no tracking account, paused, its account refuses its credentials,
    # or uninstalled. Released as soon as the shop may deliver again.
    HELD = "held"
    SKIPPED = "skipped"  # the merchant's options leave the order out; judged again on its next state


class JobStatus(enum.StrEnum):
    """A re-sync or reconcile job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


OPEN_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class DeliveryResult(enum.StrEnum):
    """What one delivery run did with one leased order."""

    DELIVERED = "delivered"
    UNCHANGED = "unchanged"
    RETRYING = "retrying"
    DEAD = "dead"
    HELD = "held"  # the shop's account refused its credentials, or the shop cannot deliver now
    SKIPPED = "skipped"  # left out by the merchant's options
    LOST = "lost"  # another worker took the lease over: nothing recorded (fencing)


class AttemptOutcome(enum.StrEnum):
    """One request to the target (or one skipped because the payload was unchanged)."""

    DELIVERED = "delivered"
    TRANSIENT = "transient"  # failed, worth retrying
    FAILED = "failed"  # failed for good
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Attempt:
    """One attempt of a delivery step, as the attempt log keeps it."""

    shop: str
    order_id: str
    what: str  # "order", "delete", or "<part kind>:<part id>"
    outcome: AttemptOutcome
    started_at: str
    duration_ms: float
    worker: str
    status_code: int | None = None
    error: str | None = None
