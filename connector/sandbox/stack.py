"""``connector sandbox``: the Shopify, Foxdeli and parcelLab stand-ins on loopback, a
configuration that points the connector at them, and sample webhook bodies to post.

A newcomer watches the real delivery path without an account: the mapping (the stand-ins refuse
what the vendors would), the auth (Foxdeli's token call, parcelLab's token header), parcels from
a fulfillment's tracking numbers, and retries (``flaky``: a share of the platforms' answers are
503 with ``Retry-After``). Every request the stand-ins receive is reported, one line each.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.server import Fault, Request, Response, StandIn
from connector.sandbox.shopify_admin import ShopifyAdminStandIn

SHOP = "demo-shop.myshopify.com"  # `connector simulate`'s default shop
SHOP_TOKEN = "shpat_sandbox_token"
PARCELLAB_TOKEN = "pl-sandbox-token"
PARCELLAB_ACCOUNT = "1612345"
MARKER = "# Written by `connector sandbox`"
TARGETS = ("foxdeli", "parcellab")
# The files of a sandbox's database: removed at each start, since the stand-ins start empty.
DATABASE_FILES = ("connector.db", "connector.db-wal", "connector.db-shm")


class SandboxError(Exception):
    """The sandbox cannot start; the message says why."""


@dataclass
class Sandbox:
    config_path: Path
    target: str
    shopify: ShopifyAdminStandIn
    foxdeli: FoxdeliStandIn
    parcellab: ParcellabStandIn
    bind: str
    metrics_port: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def standins(self) -> dict[str, StandIn]:
        return {"shopify": self.shopify, "foxdeli": self.foxdeli, "parcellab": self.parcellab}

    def stop(self) -> None:
        for standin in self.standins.values():
            standin.stop()


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens there, else a port the system picks."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise SandboxError("no free port on 127.0.0.1")


def start_sandbox(
    config_path: Path,
    target: str,
    orders: int = 40,
    flaky: float = 0.0,
    latency_s: float = 0.0,
    observe: Callable[[str, Request, Response], None] | None = None,
) -> Sandbox:
    """Start the stand-ins, write the configuration and the sample bodies beside it."""
    _claim(config_path)
    shopify = ShopifyAdminStandIn(orders=orders, token=SHOP_TOKEN, restore_rate=100.0)
    foxdeli = FoxdeliStandIn(latency_s=latency_s)
    parcellab = ParcellabStandIn(token=PARCELLAB_TOKEN, latency_s=latency_s)
    for name, standin in (("shopify", shopify), ("foxdeli", foxdeli), ("parcellab", parcellab)):
        if observe is not None:
            standin.observers.append(partial(observe, name))
        if flaky and standin is not shopify:
            standin.flaky = (flaky, Fault(status=503, headers={"Retry-After": "1"}, body={"detail": "sandbox: flaky"}))
        standin.start()
    sandbox = Sandbox(
        config_path,
        target,
        shopify,
        foxdeli,
        parcellab,
        bind=f"127.0.0.1:{free_port(8000)}",
        metrics_port=free_port(9101),
    )
    config_path.write_text(sandbox_config(sandbox, secrets.token_urlsafe(24)), encoding="utf-8")
    sandbox.files = write_samples(config_path.parent)
    return sandbox


def _claim(config_path: Path) -> None:
    """The sandbox's folder is its own: refuse someone else's file, start from an empty database."""
    folder = config_path.parent
    if config_path.exists() and not config_path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
        raise SandboxError(f"{config_path} exists and was not written by `connector sandbox`: choose another --config")
    folder.mkdir(parents=True, exist_ok=True)
    for name in DATABASE_FILES:  # the stand-ins forgot everything: so must the store
        (folder / name).unlink(missing_ok=True)


def sandbox_config(sandbox: Sandbox, api_secret: str) -> str:
    """The configuration: every account is a stand-in on this machine."""
    fox, pl = sandbox.foxdeli, sandbox.parcellab
    base = fox.url if sandbox.target == "foxdeli" else pl.url
    other = ("parcellab", pl.url) if sandbox.target == "foxdeli" else ("foxdeli", fox.url)
    database = sandbox.config_path.resolve().parent / "connector.db"
    return f"""{MARKER} — every account here is a stand-in on 127.0.0.1.
# Nothing leaves this machine. It is rewritten at each start: the stand-ins' ports change.

[shopify]
api_secret = "{api_secret}"

[database]
path = {json.dumps(str(database))}

[target]
all_shops = true
kind = "{sandbox.target}"
base_url = "{base}"
# To deliver to {other[0]} instead (the running worker follows this file, then `connector replay`
# or post again): kind = "{other[0]}" and base_url = "{other[1]}".
username = "{fox.username}"
password = "{fox.password}"
eshop_id = "{fox.eshop_id}"
token = "{PARCELLAB_TOKEN}"
account = "{PARCELLAB_ACCOUNT}"
client_key = "sandbox"
# Accounts a merchant connects in the app go to the stand-ins too.
foxdeli_base_url = "{fox.url}"
parcellab_base_url = "{pl.url}"
timeout_s = 5.0

[retry]
first_delay_s = 0.5
max_delay_s = 30.0
in_process_window_s = 10.0

[worker]
poll_interval_s = 0.5
metrics_port = {sandbox.metrics_port}
reconcile_interval_s = 0.0

[server]
bind = "{sandbox.bind}"

[shops."{SHOP}"]
# The Shopify stand-in's Admin API: `connector resync` and `connector reconcile` read it.
access_token = "{SHOP_TOKEN}"
admin_url = "{sandbox.shopify.url}"
"""


def write_samples(folder: Path) -> dict[str, Path]:
    """Shopify's documented order (made a live one) and a fulfillment of it, to post with
    `connector simulate FILE` (which tells their topics by their fields)."""
    data = resources.files("connector").joinpath("data")
    order: dict[str, Any] = json.loads(data.joinpath("sample_order.json").read_bytes())
    order.update(cancelled_at=None, cancel_reason=None, financial_status="paid")
    files = {"order": folder / "order.json", "fulfillment": folder / "fulfillment.json"}
    files["order"].write_text(json.dumps(order, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files["fulfillment"].write_bytes(data.joinpath("sample_fulfillment.json").read_bytes())
    return files


def describe(name: str, request: Request, response: Response) -> str:
    """One line for one request a stand-in answered, with the platform's complaint if any."""
    line = f"{name:<9} {request.method} {request.path} → {response.status}"
    if response.status >= 400 and isinstance(response.body, dict):
        detail = response.body.get("violations") or response.body.get("errors") or response.body.get("detail")
        line += f"  {json.dumps(detail, ensure_ascii=False)[:300]}"
    return line


def summary(sandbox: Sandbox) -> list[str]:
    """What each platform holds now, and whether the connector ever sent it a broken request."""
    fox, pl = sandbox.foxdeli, sandbox.parcellab
    with fox.lock:
        parcels = sum(len(order.get("parcels") or []) for order in fox.orders.values())
        fox_line = (
            f"foxdeli:   {len(fox.orders)} order(s), {parcels} parcel(s), {fox.auth_count} token call(s), "
            f"{len(fox.invalid_requests)} invalid request(s)"
        )
    with pl.lock:
        pl_line = f"parcellab: {len(pl.orders)} order(s), {len(pl.trackings)} tracking(s), {len(pl.invalid_requests)} invalid request(s)"
    return [fox_line, pl_line, f"shopify:   {sandbox.shopify.served_pages} order page(s) served"]
