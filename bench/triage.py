"""Triage throughput on PostgreSQL: one and two triager processes on one store, per source tree.

    python bench/triage.py --tree advisory=. --tree rowlocks=../copy [--events 6000] [--rounds 5]

(``../copy``: a copy of this checkout with ``git apply bench/results/triage-rowlocks.patch``, the
row-lock triage this was measured against; results in ``bench/results/triage-locks.txt``.)

Each *tree* is a checkout of this repository; its triagers import ``connector`` from it, so two
ways of locking triage are compared on the same server, workload and machine, interleaved round
by round (tree A 1 triager, tree A 2 triagers, tree B 1, tree B 2, then again), and medians
printed with their ratio to the first tree's single triager. A throwaway server is started (the
tests' :mod:`tests.pg_server`); each round gets an empty, migrated database.

The workload: ``--events`` webhooks for ``--orders`` orders — snapshots of each order whose
``updated_at`` arrive shuffled, plus fulfillments — stored as intake stores them. Triagers call
``triage_new_events`` in a loop until nothing is new. Every round is checked: no event left
``new``, none routed twice (states add up), every order and fulfillment holds its newest state.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHOP = "bench-shop.myshopify.com"
SAMPLE = ROOT / "tests/fixtures/orders_create.shopify-docs-sample.exact-ids.json"
FULFILLMENT = ROOT / "tests/fixtures/fulfillments_create.shopify-docs-2026-04.json"

# A triager process: waits for the start time, triages until nothing is new for a while.
TRIAGER = r"""
import sys, time
from connector.store.db import connect
from connector.worker.triage import triage_new_events
url, start_at, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
db = connect(url)
db.execute("SELECT 1")
time.sleep(max(0.0, start_at - time.time()))
routed, idle_since = 0, time.monotonic()
while time.monotonic() - idle_since < 0.5:
    done = triage_new_events(db, batch)
    routed += done
    if done:
        idle_since = time.monotonic()
        last = time.time()
print(routed, last - start_at if routed else 0.0)
"""


def plan(events: int, orders: int, rng: random.Random) -> list[tuple[str, bytes, int, str]]:
    """(topic, body, order index, updated_at) for every webhook, in arrival order."""
    order = json.loads(SAMPLE.read_bytes())
    fulfillment = json.loads(FULFILLMENT.read_bytes())
    out: list[tuple[str, bytes, int, str]] = []
    per_order = max(2, events // orders)
    for idx in range(orders):
        oid = 5_100_000_000_000 + idx
        for version in range(per_order):
            updated = f"2026-03-01T{idx % 24:02d}:{version // 60 % 60:02d}:{version % 60:02d}Z"
            if version % 5 == 4:
                body = {**fulfillment, "id": oid * 10 + version, "order_id": oid, "updated_at": updated}
                out.append(("fulfillments/create", json.dumps(body).encode(), idx, updated))
            else:
                body = {**order, "id": oid, "name": f"#{idx}", "order_number": idx, "updated_at": updated}
                out.append(("orders/updated", json.dumps(body).encode(), idx, updated))
    rng.shuffle(out)  # interleaved, and each order's states out of order
    return out


def fill(url: str, workload: list[tuple[str, bytes, int, str]]) -> None:
    from connector.store.db import connect, write_transaction
    from connector.store.events import NewEvent, save_event
    from connector.store.shops import add_shop

    db = connect(url)
    add_shop(db, SHOP, "config")
    with write_transaction(db):
        for n, (topic, body, _, _) in enumerate(workload):
            save_event(db, NewEvent(SHOP, topic, f"bench:{n}", body))
    db.close()


def check(url: str, workload: list[tuple[str, bytes, int, str]]) -> list[str]:
    """What is wrong with the store after triage (nothing, when the list is empty)."""
    from connector.store.db import connect

    db = connect(url)
    problems = []
    states = dict(db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    if states.get("new") or sum(states.values()) != len(workload):
        problems.append(f"events by state {states} for {len(workload)} events")
    newest_order: dict[str, str] = {}
    newest_part: dict[str, str] = {}
    for topic, body, _, updated in workload:
        parsed = json.loads(body)
        key = str(parsed["id"])
        target = newest_order if topic.startswith("orders/") else newest_part
        target[key] = max(target.get(key, ""), updated)
    have = dict(db.execute("SELECT order_id, newest_updated_at FROM orders").fetchall())
    parts = dict(db.execute("SELECT part_id, newest_updated_at FROM order_parts").fetchall())
    wrong = [k for k, v in newest_order.items() if not (have.get(k) or "").startswith(v[:19])]
    wrong += [k for k, v in newest_part.items() if not (parts.get(k) or "").startswith(v[:19])]
    if wrong:
        problems.append(f"{len(wrong)} orders/parts without their newest state, e.g. {wrong[:3]}")
    db.close()
    return problems


def run_round(server: Any, tree: Path, triagers: int, workload: list, batch: int) -> dict[str, Any]:
    url = server.new_database()
    fill(url, workload)
    start_at = time.time() + 1.5  # every triager imported and connected before the start
    env = {**os.environ, "PYTHONPATH": str(tree)}
    procs = [subprocess.Popen([sys.executable, "-c", TRIAGER, url, str(start_at), str(batch)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(triagers)]
    outputs = [p.communicate(timeout=600)[0].split() for p in procs]
    routed = [int(o[0]) for o in outputs]
    seconds = max(float(o[1]) for o in outputs)
    problems = check(url, workload)
    if any(p.returncode for p in procs):
        problems.append(f"triager exit codes {[p.returncode for p in procs]}")
    return {"routed": routed, "seconds": seconds, "rate": len(workload) / seconds, "problems": problems,
            "load": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a checkout to measure")
    ap.add_argument("--events", type=int, default=6000)
    ap.add_argument("--orders", type=int, default=600)
    ap.add_argument("--batch", type=int, default=100, help="worker.batch_size")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--triagers", default="1,2")
    args = ap.parse_args()
    trees = [(name, Path(path).resolve()) for name, path in (t.split("=", 1) for t in args.tree)]
    counts = [int(n) for n in args.triagers.split(",")]
    workload = plan(args.events, args.orders, random.Random(15))

    from tests.pg_server import PgServer, find_bindir

    bindir = find_bindir()
    assert bindir, "PostgreSQL's server binaries are needed (apt-get install postgresql)"
    server = PgServer.start(bindir)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    failed = False
    try:
        print(f"triage bench: {len(workload)} events, {args.orders} orders, batch {args.batch}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
        for rnd in range(args.rounds):
            for name, tree in trees:
                for n in counts:
                    result = run_round(server, tree, n, workload, args.batch)
                    results.setdefault((name, n), []).append(result)
                    failed |= bool(result["problems"])
                    print(f"round {rnd + 1} {name:>10} triagers={n}: {result['rate']:7.0f} events/s "
                          f"({result['seconds']:.2f} s, routed {result['routed']}, load {result['load']:.1f})"
                          + (f" PROBLEMS {result['problems']}" if result["problems"] else ""), flush=True)
    finally:
        server.stop()
    # Per round, each rate beside the first tree's single triager of the same round (measured a few
    # seconds apart): the machine's load drifts far more between rounds than within one.
    base_key = (trees[0][0], counts[0])
    print(f"\nmedians over {args.rounds} rounds; ratio = median of per-round ratios to {base_key[0]} with {base_key[1]} triager(s):")
    for key, rows in results.items():
        ratios = [r["rate"] / b["rate"] for r, b in zip(rows, results[base_key], strict=False)]
        median = statistics.median(r["rate"] for r in rows)
        print(f"  {key[0]:>10} triagers={key[1]}: {median:7.0f} events/s  x{statistics.median(ratios):.2f}"
              f"  (per-round ratios {min(ratios):.2f}..{max(ratios):.2f})")
    print("RESULT: " + ("FAIL (see PROBLEMS)" if failed else "every round correct"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
