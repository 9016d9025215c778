"""System calls and context switches per delivered order, counted by ``perf stat``, per build.

    python bench/deliver_syscalls.py [--orders 3000] [--target parcellab] [--latency-ms 0] \
        [--rounds 2] NAME=CHECKOUT [NAME=CHECKOUT ...]

Each build's worker runs in a child process of its own (its ``connector`` imported from
CHECKOUT), by ``bench/deliver.py``'s own ``deliver_child``: the orders are queued first, then ``perf stat``
is attached to the child (every thread, the ones started later included) for the delivery
alone, ``Worker.run(once=True)`` with 16 delivery threads against the stand-in. Printed per
build and round: the worker's CPU per order (user and system) and, per order, the system calls
(all, ``futex``, ``pwrite64``, ``pread64``) and context switches. Needs ``perf`` (Debian's
linux-perf) with its tracepoints readable, as root is.

Counting slows the worker down (every system call is a trace event), so the CPU figures here
are not those of ``bench/deliver.py``; the counts are what this script is for.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = {
    "raw_syscalls:sys_enter": "syscalls",
    "syscalls:sys_enter_futex": "futex",
    "syscalls:sys_enter_pwrite64": "pwrite64",
    "syscalls:sys_enter_pread64": "pread64",
    "context-switches": "switches",
}

# The child: bench/deliver.py's measurement, pausing between queueing and delivering for perf to attach.
CHILD = """
import json, sys
root, bench, kind, url = sys.argv[1:5]
orders, first = int(sys.argv[5]), int(sys.argv[6])
sys.path[:0] = [root, bench]
import deliver
def ready():
    print("ready", flush=True)
    sys.stdin.readline()
print(json.dumps(deliver.deliver_child(kind, url, orders, 16, first, ready)))
"""


def measure(root: Path, kind: str, url: str, orders: int, first: int) -> dict[str, float]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(ROOT / "bench"), kind, url, str(orders), str(first)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(root)),
    )
    assert child.stdout is not None and child.stdin is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{root}: the child did not start")
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        perf = subprocess.Popen(["perf", "stat", "-x,", "-o", out.name, "-e", ",".join(EVENTS), "-p", str(child.pid)])
        try:
            child.stdin.write("go\n")
            child.stdin.flush()
            result = json.loads(child.stdout.read().strip().splitlines()[-1])
            child.wait(60)
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(30)
        counts = {}
        for line in out.read().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] in EVENTS:
                counts[EVENTS[fields[2]]] = float(fields[0]) if fields[0].replace(".", "").isdigit() else float("nan")
    delivered = max(1, result["delivered"])
    return {
        "delivered": result["delivered"],
        "user_ms": result["user_ms_per_order"],
        "system_ms": result["system_ms_per_order"],
        **{name: counts.get(name, float("nan")) / delivered for name in EVENTS.values()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", metavar="NAME=CHECKOUT")
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--target", default="parcellab", choices=["parcellab", "foxdeli"])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    import deliver

    builds = dict(spec.split("=", 1) for spec in args.builds)
    process, url = deliver.start_standin(args.target, args.latency_ms / 1000)
    print(f"{args.target} at {args.latency_ms:g} ms, {args.orders} orders, 16 delivery threads; per delivered order:")
    print(f"{'build':12} {'round':>5} {'user ms':>8} {'sys ms':>7} {'syscalls':>9} {'futex':>7} {'pwrite64':>9} "
          f"{'pread64':>8} {'switches':>9}")
    try:
        runs = 0
        for rnd in range(args.rounds):
            for name, root in builds.items():
                m = measure(Path(root).resolve(), args.target, url, args.orders, runs * args.orders)
                runs += 1
                print(f"{name:12} {rnd + 1:>5} {m['user_ms']:8.2f} {m['system_ms']:7.2f} {m['syscalls']:9.1f} "
                      f"{m['futex']:7.1f} {m['pwrite64']:9.1f} {m['pread64']:8.1f} {m['switches']:9.1f}", flush=True)
    finally:
        process.terminate()


if __name__ == "__main__":
    main()
