"""Re-sync from Shopify's Admin API into the webhook pipeline: pacing, resumption, no duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.app import prepare_store
from connector.metrics import SHOPIFY_THROTTLED, shop_label
from connector.resync.jobs import create_resync_job
from connector.resync.runner import run_job
from connector.resync.scheduler import JobScheduler
from connector.resync.spec import ResyncSpec
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.sandbox.tracking_target import TrackingTargetStandIn
from connector.shopify.order_shape import map_graphql_order
from connector.store import jobs as job_store
from connector.store.db import close_thread_dbs, db_for
from connector.store.orders import get_order
from connector.worker.loop import Worker
from tests.support import SHOP, custom_app, make_settings

pytestmark = pytest.mark.both_engines


@pytest.fixture
def shopify():
    # A small bucket with a fast restore: pacing matters (10 pages need 4× the bucket) yet the
    # test stays well under a second.
    with ShopifyAdminStandIn(orders=1000, maximum=500, restore_rate=4000) as standin:
        yield standin


@pytest.fixture
def target():
    with TrackingTargetStandIn() as standin:
        yield standin


@pytest.fixture
def env(tmp_path: Path, db_path: str, shopify: ShopifyAdminStandIn, target: TrackingTargetStandIn):
    settings = make_settings(
        tmp_path, store=db_path, shop=custom_app(shopify.url),
        **{"shopify.page_size": 100, "target.kind": "http", "target.base_url": target.url,
           "worker.concurrency": 16, "worker.reconcile_interval_s": 0},
    )
    prepare_store(settings)
    db = db_for(settings)
    yield settings, db
    close_thread_dbs()


def _job(settings, db, owner: str = "r", **spec) -> str:  # type: ignore[no-untyped-def]
    return create_resync_job(db, settings, ResyncSpec(shop=SHOP, **spec), owner, "test")


@pytest.mark.one_engine("postgres")
@pytest.mark.slow
def test_resync_of_1000_orders_stays_within_the_bucket_and_delivers_each_once(env, shopify, target) -> None:
    settings, db = env
    job = run_job(db, settings, _job(settings, db, since="2020-01-01T00:00:00Z"), "r")
    assert job["status"] == "done", job["error"]
    assert (job["fetched"], job["queued"], job["total"], job["pages"]) == (1000, 1000, 1000, 10)
    assert shopify.throttled == 0 and shopify.min_headroom >= 0
    assert shopify.points_spent > 2 * shopify.maximum  # the bucket really had to refill

    stats = Worker(settings).run(once=True)
    assert stats.delivered == 1000 and stats.dead == 0
    assert len(target.orders()) == 1000
    assert set(target.writes.values()) == {1}
    some_id = shopify.order_ids()[500]
    assert target.documents[f"/orders/{SHOP}/{some_id}"]["order_id"] == some_id  # exact 64-bit id

    # The same re-sync again: deduplicated at intake, nothing new reaches the target.
    again = run_job(db, settings, _job(settings, db, since="2020-01-01T00:00:00Z"), "r")
    assert (again["queued"], again["duplicates"]) == (0, 1000)
    Worker(settings).run(once=True)
    assert set(target.writes.values()) == {1}


@pytest.mark.one_engine("sqlite")
@pytest.mark.slow
def test_a_restarted_resync_resumes_from_the_stored_cursor(env, shopify, tmp_path: Path, db_path: str) -> None:
    settings, db = env
    job_id = _job(settings, db, owner="runner-before-restart", since="2020-01-01T00:00:00Z")
    first = run_job(db, settings, job_id, "runner-before-restart", max_pages=3)
    assert (first["status"], first["pages"], first["fetched"]) == ("running", 3, 300)
    assert first["lease_owner"] is None and first["cursor"]

    final = run_job(db, settings, job_id, "runner-after-restart")
    assert (final["status"], final["pages"], final["fetched"], final["queued"]) == ("done", 10, 1000, 1000)
    assert sum(shopify.cursors_seen.values()) == 10
    assert set(shopify.cursors_seen.values()) == {1}, "a finished page was fetched twice"
    dry_run = make_settings(tmp_path, store=db_path, shop=custom_app(shopify.url), **{"target.kind": "dry-run", "worker.concurrency": 16})
    Worker(dry_run).run(once=True)
    per_order = [r[0] for r in db.execute("SELECT count(*) FROM dry_run_payloads WHERE kind = 'order' GROUP BY order_id")]
    assert len(per_order) == 1000 and set(per_order) == {1}


def test_the_worker_resumes_a_job_whose_runner_died(env, shopify) -> None:
    settings, db = env
    job_id = job_store.create_job(db, "resync", SHOP, {"order_ids": [], "since": "2020-01-01T00:00:00Z"}, "dead-web-process", lease_s=-1)
    scheduler = JobScheduler(settings)
    assert scheduler.tick(db, force=True) == [job_id]
    scheduler.threads[job_id].join(60)  # 1,000 orders in 10 pages
    assert job_store.get_job(db, job_id)["status"] == "done"
    # A job with a live lease elsewhere is left alone.
    live = job_store.create_job(db, "resync", SHOP, {"order_ids": [], "since": "2020-01-01T00:00:00Z"}, "alive", lease_s=60)
    assert live not in scheduler.tick(db, force=True)


@pytest.mark.parametrize("http_status", [200, 429])
def test_throttled_answers_are_waited_out_and_retried(tmp_path: Path, db_path: str, http_status: int) -> None:
    with ShopifyAdminStandIn(orders=120, maximum=400, restore_rate=4000, throttle_http_status=http_status) as shopify:
        settings = make_settings(tmp_path, store=db_path, shop=custom_app(shopify.url), **{"shopify.page_size": 50})
        prepare_store(settings)
        db = db_for(settings)
        before = SHOPIFY_THROTTLED.labels(shop_label(SHOP))._value.get()
        # Another client of the app emptied the bucket and then some (a second of restore at 4000/s):
        # we cannot know it, so the first request is throttled however slow this machine is today.
        shopify.drain(400 + 4000)
        job = run_job(db, settings, _job(settings, db, since="2020-01-01T00:00:00Z"), "r")
        assert job["status"] == "done" and job["fetched"] == 120
        assert shopify.throttled >= 1
        assert SHOPIFY_THROTTLED.labels(shop_label(SHOP))._value.get() > before
        close_thread_dbs()


def test_resync_by_order_ids_reports_missing_ids_and_passes_silent_through(env, shopify) -> None:
    settings, db = env
    wanted = [str(i) for i in shopify.order_ids()[:3]] + ["12345"]
    job = run_job(db, settings, _job(settings, db, order_ids=tuple(wanted), silent=True), "r")
    assert (job["status"], job["fetched"], job["queued"], job["total"]) == ("done", 3, 3, 4)
    assert any("1 order id(s) not found" in n and "12345" in n for n in job["notes"])
    assert any("silent" in n for n in job["notes"])
    sources = {r["source"] for r in db.query("SELECT source FROM events")}
    assert sources == {"resync-silent"}
    Worker(settings).run(once=True)
    assert get_order(db, SHOP, wanted[0])["silent"] == 1


def test_an_old_since_is_explained_in_the_notes(env) -> None:
    settings, db = env
    job = job_store.get_job(db, _job(settings, db, since="2020-01-01T00:00:00Z"))
    assert any("older than 60 days" in n and "read_all_orders" in n for n in job["notes"])
    recent = job_store.get_job(db, _job(settings, db, order_ids=("1",)))
    assert not any("60 days" in n for n in recent["notes"])


def test_a_resync_never_moves_an_order_backwards(env, shopify, target) -> None:
    settings, db = env
    order_id = shopify.order_ids()[0]
    newer = map_graphql_order(shopify.orders[f"gid://shopify/Order/{order_id}"])
    newer["updated_at"] = "2099-01-01T00:00:00Z"  # a webhook newer than what the re-sync will read
    newer["email"] = "newer@example.com"
    from connector.store.events import NewEvent, save_event

    save_event(db, NewEvent(shop=SHOP, topic="orders/updated", dedupe_key="event:newer", body=json.dumps(newer).encode()))
    Worker(settings).run(once=True)
    run_job(db, settings, _job(settings, db, order_ids=(str(order_id),)), "r")
    Worker(settings).run(once=True)
    path = f"/orders/{SHOP}/{order_id}"
    assert target.writes[path] == 1
    assert target.documents[path]["customer"]["email"] == "newer@example.com"
    states = {r["topic"]: r["state"] for r in db.query("SELECT topic, state FROM events WHERE source = 'resync'")}
    # The older order state is stale; its fulfillment (never seen before) is delivered.
    assert states == {"orders/updated": "stale", "fulfillments/update": "delivered"}


def test_a_wrong_token_fails_the_job_with_a_clear_reason(tmp_path: Path, db_path: str, shopify) -> None:
    settings = make_settings(tmp_path, store=db_path, shop=custom_app(shopify.url, token="wrong"))
    prepare_store(settings)
    db = db_for(settings)
    job = run_job(db, settings, _job(settings, db, since="2026-01-01T00:00:00Z"), "r")
    assert job["status"] == "failed" and "401" in job["error"] and "access token" in job["error"]
    assert "wrong" not in job["error"]  # the token itself never appears
    close_thread_dbs()


def test_a_job_thread_whose_store_fails_says_so_in_one_line_and_ends(tmp_path: Path, caplog, monkeypatch) -> None:
    """Not an unhandled exception in a background thread (a traceback on stderr, outside the
    logs): the job's lease lapses and a worker resumes it."""
    from connector.resync.runner import start_job_thread

    crashed: list[BaseException] = []
    monkeypatch.setattr("threading.excepthook", lambda args: crashed.append(args.exc_value))
    unopenable = tmp_path / "a-folder"
    unopenable.mkdir()
    settings = make_settings(tmp_path, shop={}, **{"database.path": str(unopenable)})
    with caplog.at_level("WARNING", logger="connector.resync.runner"):
        start_job_thread(settings, "job-0123456789", "tester").join(10)
    assert crashed == []
    lines = [r.getMessage() for r in caplog.records if r.name == "connector.resync.runner"]
    assert len(lines) == 1 and lines[0].startswith("job job-0123456789: the store failed (")
