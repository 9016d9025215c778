"""Run a re-sync or reconcile job: fetch pages from Shopify, queue them as webhooks would.

Re-synced orders take the webhook road on purpose: each order an ``orders/updated`` event and
each of its fulfillments a ``fulfillments/update`` one (:mod:`.page`), dedupe keys
``resync:<id>:<updated_at>``; triage's monotonic ``updated_at`` upsert and the delivery's
payload hash then guarantee that a re-sync never creates a duplicate at the target, never moves
an order backwards, and never re-sends an unchanged order or parcel.

Pages are sorted by ``updated_at``: an order edited during the job moves to the end and is
fetched again in its newer state — harmless for the same reasons.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from connector.config import Settings
from connector.errors import BadRequestError, ShopifyApiError
from connector.lifecycle.credentials import admin_credentials
from connector.metrics import RESYNC_ORDERS
from connector.models import JobStatus
from connector.resync.page import Known, fulfillment_ids, page_events
from connector.resync.spec import search_queries
from connector.scrub import scrub_secrets
from connector.shopify.admin_api import OrdersPage, ShopifyAdminClient
from connector.store import jobs as job_store
from connector.store.db import STORE_ERRORS, Db, close_thread_dbs, db_for, write_transaction
from connector.store.orders import newest_updated_at_by_order
from connector.store.parts import newest_updated_at_by_part
from connector.worker.routing import RoutingRules
from connector.worker.triage import triage_new_events

log = logging.getLogger(__name__)
TRANSIENT_RETRY_S = 60.0
Progress = Callable[[dict[str, Any]], None]


def runner_name(role: str) -> str:
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_client(db: Db, settings: Settings, shop: str) -> ShopifyAdminClient:
    base_url, token = admin_credentials(db, settings, shop)
    return ShopifyAdminClient(shop=shop, base_url=base_url, token=token, api_version=settings["shopify.api_version"])


class JobRun:
    """One runner's pass over one job (it may be resumed later by another pass)."""

    def __init__(
        self,
        db: Db,
        settings: Settings,
        job_id: str,
        owner: str,
        client: ShopifyAdminClient | None = None,
        stop: threading.Event | None = None,
        max_pages: int | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        self.db, self.settings, self.job_id, self.owner = db, settings, job_id, owner
        self.client, self.stop, self.max_pages, self.on_progress = client, stop, max_pages, on_progress
        self.lease_s = settings["worker.lease_s"]
        self.page_size = settings["shopify.page_size"]

    def run(self) -> dict[str, Any] | None:
        job = job_store.claim_job(self.db, self.job_id, self.owner, self.lease_s)
        if job is None:  # finished, or another runner holds it
            return job_store.get_job(self.db, self.job_id)
        extra = {"job": self.job_id, "shop": job["shop"]}
        own_client = self.client is None
        try:
            self.client = self.client or build_client(self.db, self.settings, job["shop"])
            log.info("%s job running from page %d", job["kind"], job["pages"] + 1, extra=extra)
            self._pages(job)
        except BadRequestError as exc:
            job_store.finish_job(self.db, self.job_id, self.owner, JobStatus.FAILED, str(exc))
        except job_store.LeaseLostError:
            log.warning("job taken over by another runner; stopping", extra=extra)
        except ShopifyApiError as exc:
            if exc.transient:  # retries used up: the worker resumes the job later
                job_store.release_job(self.db, self.job_id, self.owner, TRANSIENT_RETRY_S, str(exc))
            else:
                job_store.finish_job(self.db, self.job_id, self.owner, JobStatus.FAILED, str(exc))
            log.error("job stopped: %s", exc, extra=extra)
        except Exception as exc:  # a bug: keep the job resumable, say why
            log.exception("job crashed", extra=extra)
            job_store.release_job(
                self.db, self.job_id, self.owner, TRANSIENT_RETRY_S, scrub_secrets(f"internal error: {exc}")
            )
        finally:
            if own_client and self.client is not None:
                self.client.close()
        final = job_store.get_job(self.db, self.job_id)
        if final and final["status"] in (JobStatus.DONE, JobStatus.FAILED):
            log.info(
                "%s job %s: fetched %d, queued %d",
                final["kind"],
                final["status"],
                final["fetched"],
                final["queued"],
                extra=extra,
            )
        return final

    def _pages(self, job: dict[str, Any]) -> None:
        assert self.client is not None
        searches = search_queries(job["params"], self.page_size)
        if job["total"] is None and job["pages"] == 0:
            total = (
                len(job["params"]["order_ids"])
                if job["params"].get("order_ids")
                else self.client.count_orders(searches[0])
            )
            job_store.set_job_total(self.db, self.job_id, total)
        chunk, cursor, run_pages = job["chunk"], job["cursor"], 0
        while chunk < len(searches):
            if (self.stop is not None and self.stop.is_set()) or (
                self.max_pages is not None and run_pages >= self.max_pages
            ):
                job_store.release_job(self.db, self.job_id, self.owner)
                return
            if job["kind"] == "reconcile":
                # Fold webhooks already stored but not yet triaged into the sync state first, so
                # they are not mistaken for missed ones.
                while triage_new_events(
                    self.db, self.settings["worker.batch_size"], RoutingRules.from_settings(self.settings)
                ):
                    pass
            page = self.client.fetch_orders_page(searches[chunk], self.page_size, cursor)
            last_of_chunk = not (page.has_next and page.end_cursor)
            next_chunk, next_cursor = (chunk + 1, None) if last_of_chunk else (chunk, page.end_cursor)
            self._record(
                job, page, searches[chunk] if last_of_chunk and cursor is None else None, next_cursor, next_chunk
            )
            chunk, cursor, run_pages = next_chunk, next_cursor, run_pages + 1
            if self.on_progress:
                self.on_progress(job_store.get_job(self.db, self.job_id) or job)
        job_store.finish_job(self.db, self.job_id, self.owner, JobStatus.DONE)

    def _record(
        self, job: dict[str, Any], page: OrdersPage, whole_chunk: str | None, cursor: str | None, chunk: int
    ) -> None:
        shop, kind, params = job["shop"], job["kind"], job["params"]
        source = "reconcile" if kind == "reconcile" else ("resync-silent" if params.get("silent") else "resync")
        ids = [str(o["id"]) for o in page.orders if o.get("id")]
        known = None
        if kind == "reconcile":  # what the sync state has already: only the rest was missed
            known = Known(
                newest_updated_at_by_order(self.db, shop, ids),
                newest_updated_at_by_part(self.db, shop, "fulfillment", fulfillment_ids(page.orders)),
            )
        found = page_events(shop, page.orders, source, self.settings["shopify.api_version"], known)
        events, recovered, skipped = found.events, found.recovered, found.skipped
        notes = _missing_ids_note(whole_chunk, ids) if params.get("order_ids") and whole_chunk else []
        with write_transaction(self.db):
            queued, dupes, recovered_n = job_store.record_page(
                self.db,
                self.job_id,
                self.owner,
                self.lease_s,
                events,
                cursor,
                chunk,
                len(page.orders),
                skipped,
                recovered,
                notes,
            )
        RESYNC_ORDERS.labels(kind, "queued").inc(queued)
        RESYNC_ORDERS.labels(kind, "skipped").inc(skipped + dupes)
        RESYNC_ORDERS.labels(kind, "recovered").inc(recovered_n)


def _missing_ids_note(search: str, fetched: list[str]) -> list[str]:
    wanted = [term[3:] for term in search.split(" OR ")]
    missing = [i for i in wanted if i not in set(fetched)]
    if not missing:
        return []
    shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
    return [
        f"{len(missing)} order id(s) not found in Shopify (deleted, another shop, or older than 60 days without read_all_orders): {shown}"
    ]


def run_job(db: Db, settings: Settings, job_id: str, owner: str, **kwargs: Any) -> dict[str, Any] | None:
    """Run (or resume) ``job_id`` in this thread until done, stopped or ``max_pages`` pages."""
    return JobRun(db, settings, job_id, owner, **kwargs).run()


def start_job_thread(
    settings: Settings, job_id: str, owner: str, stop: threading.Event | None = None
) -> threading.Thread:
    """Run a job in a daemon thread with its own connection (web process, worker)."""

    def body() -> None:
        try:
            db = db_for(settings)
            run_job(db, settings, job_id, owner, stop=stop)
        except STORE_ERRORS as exc:  # nothing lost: the job's lease lapses and a worker resumes it
            log.warning(
                "job %s: the store failed (%s); a worker resumes it once its lease lapses",
                job_id,
                exc,
                extra={"job": job_id},
            )
        finally:
            close_thread_dbs()

    thread = threading.Thread(target=body, name=f"job-{job_id[:8]}", daemon=True)
    thread.start()
    return thread
