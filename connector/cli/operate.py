"""Operator commands: post a test webhook, inspect sync state and failures, replay, re-sync,
reconcile, jobs, recorded payloads, the effective configuration.

Every command takes ``--config PATH`` (else ``$CONNECTOR_CONFIG``, else ./config.toml, else the
built-in defaults) and prints one clear line when the configuration is wrong.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from connector.cli.common import DEMO_SHOP, config_option, open_db, print_table
from connector.config import Settings
from connector.models import OPEN_JOB_STATUSES, JobStatus, SyncStatus
from connector.store.db import Db


@click.command()
@config_option
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--topic",
    default=None,
    help="X-Shopify-Topic to send (default: told by FILE's fields — an order, fulfillment, refund, "
    "privacy or scopes body; orders/create for the bundled order).",
)
@click.option("--url", default=None, help="Webhook URL (default: http://<server.bind>/webhooks/shopify).")
@click.option(
    "--shop",
    default=None,
    help=f"X-Shopify-Shop-Domain to send (default: the shop a privacy or app body names, else {DEMO_SHOP}).",
)
def simulate(
    settings: Settings, config_path: str | None, file: str | None, topic: str | None, url: str | None, shop: str | None
) -> None:
    """Post a correctly signed webhook to a running connector, as Shopify would.

    Without FILE it posts a bundled real Shopify order (Shopify's documented sample). With FILE,
    the body is sent byte for byte, and its topic is told by its fields unless --topic says:
    a fulfillment goes as fulfillments/create, a refund as refunds/create, a customers/redact
    body as customers/redact, and so on. It is signed with shopify.api_secret (or the demo
    secret of `connector run`).
    """
    from connector.cli.simulate import UnknownTopic, post_webhook, resolve_secret, sample_body, shop_of, topic_of

    body = Path(file).read_bytes() if file else sample_body()
    if topic is None:
        try:
            topic = topic_of(body)
        except UnknownTopic as exc:
            raise click.UsageError(f"{file}: {exc}") from None
    shop = shop or shop_of(body) or DEMO_SHOP
    secret = resolve_secret(settings)
    if not secret:
        raise click.ClickException(
            "no shopify.api_secret configured and no demo secret found: start `connector run` first"
        )
    target = url or f"http://{settings['server.bind']}/webhooks/shopify"
    status, answer = post_webhook(target, body, secret, topic, shop)
    click.echo(f"POST {target} topic={topic} shop={shop} → {status} {answer}")
    if status != 200:
        sys.exit(1)


@click.command()
@config_option
@click.option("--shop", default=None, help="Only this shop.")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([s.value for s in SyncStatus]),
    default=None,
    help="Only orders in this sync state.",
)
@click.option("--order", "order_id", default=None, help="Show one order in detail (needs --shop unless only one shop).")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="At most this many orders, newest first.",
)
def status(
    settings: Settings,
    config_path: str | None,
    shop: str | None,
    status_filter: str | None,
    order_id: str | None,
    limit: int,
) -> None:
    """Sync state: orders by status, or one order with its events and attempts."""
    from connector.store import events as event_store
    from connector.store import failures as failure_store
    from connector.store import orders as order_store
    from connector.store.db import location_of
    from connector.store.journal import journal_backlog

    db = open_db(settings)
    if order_id:
        rows = [r for r in order_store.list_orders(db, shop, None, 100000) if r["order_id"] == order_id]
        if not rows:
            raise click.ClickException(f"no sync state for order {order_id}")
        for row in rows:
            click.echo(json.dumps(row, indent=2))
            click.echo("events:")
            print_table(
                list(event_store.list_events(db, row["shop"], order_id)),
                ["id", "topic", "state", "reason", "received_at"],
            )
            click.echo("attempts:")
            print_table(
                failure_store.list_attempts(db, row["shop"], order_id),
                ["started_at", "what", "outcome", "status_code", "error"],
            )
        return
    waiting = journal_backlog(location_of(settings)).files
    if waiting:
        click.echo(
            f"intake journal: {waiting} file(s) of webhooks answered but not filed yet (`connector worker` files them)"
        )
    counts = order_store.count_orders_by_status(db)
    click.echo("orders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none yet"))
    click.echo(
        "events: "
        + (", ".join(f"{k} {v}" for k, v in sorted(event_store.count_events_by_state(db).items())) or "none yet")
    )
    print_table(
        order_store.list_orders(db, shop, status_filter, limit),
        ["shop", "order_id", "status", "remote_id", "attempts", "shopify_updated_at", "last_synced_at", "last_error"],
    )


@click.command()
@config_option
@click.option("--shop", default=None, help="Only this shop.")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="At most this many entries, newest first.",
)
@click.option(
    "--all",
    "include_closed",
    is_flag=True,
    help="Closed entries too, with when (closed_at) and why (resolution): replayed, or settled by "
    "a later delivery of the order.",
)
def failures(settings: Settings, config_path: str | None, shop: str | None, limit: int, include_closed: bool) -> None:
    """The dead-letter list: deliveries that need a person, with their reasons."""
    from connector.store.failures import list_failures

    rows = list_failures(open_db(settings), shop, include_replayed=include_closed, limit=limit)
    columns = ["id", "shop", "order_id", "failed_at", "attempts", "status_code", "reason"]
    if include_closed:
        rows = [{**row, "closed_at": row["replayed_at"] or "open"} for row in rows]
        columns += ["closed_at", "resolution"]
    print_table(rows, columns)


@click.command()
@config_option
@click.option("--id", "failure_id", type=int, default=None, help="Replay one failure by id.")
@click.option("--shop", default=None, help="Replay every open failure of this shop.")
@click.option("--all", "replay_all", is_flag=True, help="Replay every open failure.")
def replay(
    settings: Settings, config_path: str | None, failure_id: int | None, shop: str | None, replay_all: bool
) -> None:
    """Queue dead-lettered deliveries again (the worker picks them up at once)."""
    from connector.store.db import write_transaction
    from connector.store.failures import replay_failure, replay_shop

    db = open_db(settings)
    if failure_id is not None:
        with write_transaction(db):
            failure = replay_failure(db, failure_id)
        if failure is None:
            raise click.ClickException(f"no open failure {failure_id}")
        click.echo(f"replayed failure {failure_id}: order {failure['order_id']} of {failure['shop']}")
    elif shop or replay_all:
        with write_transaction(db):
            count = replay_shop(db, shop)
        click.echo(f"replayed {count} orders")
    else:
        raise click.UsageError("say what to replay: --id N, --shop S or --all")


def _run_job_in_foreground(settings: Settings, db: Db, job_id: str, owner: str) -> dict[str, Any]:
    """Run a job here with a progress bar; Ctrl-C pauses it (the worker or --resume continues)."""
    import threading

    from connector.resync.runner import run_job
    from connector.store.jobs import get_job

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    job = get_job(db, job_id) or {}
    with click.progressbar(
        length=job.get("total") or 0,
        label=f"{job.get('kind', 'job')} {job.get('shop', '')}",
        show_pos=True,
        file=sys.stderr,
    ) as bar:
        seen = {"fetched": job.get("fetched", 0)}

        def progress(current: dict[str, Any]) -> None:
            if current.get("total") and not bar.length:
                bar.length = current["total"]
            bar.update(current["fetched"] - seen["fetched"])
            seen["fetched"] = current["fetched"]

        final = run_job(db, settings, job_id, owner, stop=stop, on_progress=progress) or {}
    return final


def _print_job(job: dict[str, Any]) -> None:
    from connector.resync.jobs import job_view

    view = job_view(job)
    click.echo(f"job {view['job_id']} ({view['kind']} {view['shop']}): {view['status']}")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in view["progress"].items() if v is not None))
    for note in view["notes"]:
        click.echo(f"  note: {note}")
    if view["error"]:
        click.echo(f"  error: {view['error']}")
    if view["status"] in OPEN_JOB_STATUSES:
        click.echo(f"  paused: `connector resync --resume {view['job_id']}` continues it (the worker does too)")


def _job_exit(job: dict[str, Any]) -> None:
    _print_job(job)
    if job.get("status") == JobStatus.FAILED:
        sys.exit(1)


@click.command()
@config_option
@click.option("--shop", default=None, help="The shop's domain, name.myshopify.com.")
@click.option("--since", default=None, help="Re-sync orders updated since this ISO-8601 time.")
@click.option("--until", default=None, help="…and until this ISO-8601 time (with --since).")
@click.option("--order", "order_ids", multiple=True, help="A Shopify order id (repeatable) instead of --since.")
@click.option(
    "--silent",
    is_flag=True,
    help="Ask the target not to notify customers (source resync-silent); "
    "what that really does at the shop's platform is printed before the re-sync starts.",
)
@click.option(
    "--resume",
    "resume_id",
    default=None,
    help="Continue a paused or orphaned job by id (as `connector jobs` lists it).",
)
def resync(
    settings: Settings,
    config_path: str | None,
    shop: str | None,
    since: str | None,
    until: str | None,
    order_ids: tuple[str, ...],
    silent: bool,
    resume_id: str | None,
) -> None:
    """Fetch orders from Shopify's Admin API and queue them like webhooks (never duplicates, never backwards).

    Runs here with a progress bar; the worker delivers what it queues. Ctrl-C pauses the job
    after the current page; it is resumable.
    """
    from connector.errors import BadRequestError
    from connector.resync.jobs import create_resync_job
    from connector.resync.runner import runner_name
    from connector.resync.spec import parse_resync_request
    from connector.timeutil import utc_now

    db = open_db(settings, create=not resume_id)
    owner = runner_name("cli")
    try:
        if resume_id:
            job_id = _job_id(db, resume_id)
        else:
            body: dict[str, Any] = {"shop": shop, "silent": silent}
            if order_ids:
                body["order_ids"] = list(order_ids)
            if since is not None:
                body["since"] = since
            if until is not None:
                body["until"] = until
            job_id = create_resync_job(db, settings, parse_resync_request(body, utc_now()), owner, "cli")
    except BadRequestError as exc:
        raise click.UsageError(str(exc).replace('"order_ids"', "--order").replace('"since"', "--since")) from None
    _print_notes(db, job_id)
    _job_exit(_run_job_in_foreground(settings, db, job_id, owner))


def _print_notes(db: Db, job_id: str) -> None:
    """The job's notes before it runs: what Shopify will not return, what --silent really does."""
    from connector.store.jobs import get_job

    for note in (get_job(db, job_id) or {}).get("notes", []):
        click.echo(f"note: {note}", err=True)


@click.command()
@config_option
@click.option("--shop", required=True, help="The shop's domain, name.myshopify.com.")
@click.option("--window", default="72h", show_default=True, help="How far back to look: 72h, 3d, 90m.")
def reconcile(settings: Settings, config_path: str | None, shop: str, window: str) -> None:
    """Ask Shopify for orders updated in the window and queue those we never heard of (missed webhooks)."""
    from connector.errors import BadRequestError
    from connector.resync.jobs import create_reconcile_job
    from connector.resync.runner import runner_name
    from connector.resync.spec import parse_duration

    db = open_db(settings, create=True)
    owner = runner_name("cli")
    try:
        job_id = create_reconcile_job(db, settings, shop, parse_duration(window), owner, "cli")
    except BadRequestError as exc:
        raise click.UsageError(str(exc)) from None
    job = _run_job_in_foreground(settings, db, job_id, owner)
    _job_exit(job)
    click.echo(
        f"recovered {job.get('recovered', 0)} order(s) and {job.get('fulfillments', 0)} fulfillment(s) "
        "whose webhooks were missed"
    )


@click.command()
@config_option
@click.argument("job_id", required=False)
@click.option("--shop", default=None, help="Only this shop.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="At most this many jobs, newest first.",
)
def jobs(settings: Settings, config_path: str | None, job_id: str | None, shop: str | None, limit: int) -> None:
    """Re-sync and reconcile jobs: the newest first, or one job in detail.

    JOB_ID is an id as the list shows it (the start of one is enough when no other job shares
    it). A paused or orphaned job continues with `connector resync --resume JOB_ID`.
    """
    from connector.store.jobs import get_job, list_jobs

    db = open_db(settings)
    if job_id:
        job = get_job(db, _job_id(db, job_id))
        assert job is not None  # _job_id found it
        _print_job(job)
        return
    rows = [{**j, "running": "yes" if j["lease_owner"] else ""} for j in list_jobs(db, shop, limit=limit)]
    print_table(
        rows,
        [
            "id",
            "kind",
            "shop",
            "status",
            "running",
            "pages",
            "fetched",
            "queued",
            "fulfillments",
            "recovered",
            "created_at",
            "error",
        ],
    )


def _job_id(db: Db, typed: str) -> str:
    """The job ``typed`` names: its whole id, or the start of one (at least 6 characters) that
    no other job shares; anything else stops the command with one line."""
    from connector.store.jobs import get_job, job_ids_starting

    typed = typed.strip().lower()
    if get_job(db, typed) is not None:
        return typed
    matches = job_ids_starting(db, typed) if len(typed) >= 6 and all(c in "0123456789abcdef" for c in typed) else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise click.ClickException(f"more than one job id starts with {typed}: type more of it (see `connector jobs`)")
    raise click.ClickException(f"no job {typed} (`connector jobs` lists them)")


@click.command()
@config_option
@click.option("--order", "order_id", default=None, help="Only payloads of this Shopify order id.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=5,
    show_default=True,
    help="At most this many payloads, newest first.",
)
def payloads(settings: Settings, config_path: str | None, order_id: str | None, limit: int) -> None:
    """Show what the dry-run target recorded (the payloads it would have sent), newest first."""
    from connector.store.dry_run import list_dry_runs

    for row in list_dry_runs(open_db(settings), order_id=order_id, limit=limit):
        click.echo(
            f"# {row['recorded_at']} {row['shop']} order {row['order_id']} {row['kind']} ({row['mapping']} mapping)"
        )
        click.echo(json.dumps(row["payload"], indent=2, ensure_ascii=False))


@click.command("config")
@config_option
def show_config(settings: Settings, config_path: str | None) -> None:
    """Print the effective configuration: every key with the value in force (file, environment
    or default), then each [shops."…"] entry with its overrides. Secrets show as *** (set) or
    "" (unset), never their value. Accounts merchants connect in the app are not configuration:
    `connector check` tries them."""
    click.echo(f"# from {settings.source}")
    for name, value in settings.redacted().items():
        click.echo(f"{name} = {json.dumps(value)}")
    for shop, entry in settings.redacted_shops().items():
        managed = (
            "tracking account: set here"
            if shop in settings.operator_assigned_shops()
            else "tracking account: its merchant's (connected in the app), else [target] where target.all_shops"
        )
        click.echo(f'\n[shops."{shop}"]  # {managed}')
        for key, value in entry.items():
            click.echo(f"{key} = {json.dumps(value)}")
