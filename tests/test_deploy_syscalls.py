"""The units' system-call filter and address families allow what the connector really does.

systemd kills a process (SIGSYS) that makes a system call outside ``SystemCallFilter=`` and
refuses sockets outside ``RestrictAddressFamilies=``. Without systemd as PID 1 the units cannot
be started here, so the test does the next best thing: it runs `connector serve` and `connector
worker` under strace through real work (signed and forged webhooks, /readyz, /metrics,
deliveries with a retry, a graceful stop), and a `connector db backup`, and checks every
system call and socket family they used against the sets the shipped units allow, expanded by
``systemd-analyze syscall-filter`` itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connector.sandbox.http_target import HttpTargetStandIn
from tests.external_tools import require_tool
from tests.processes import connector_env, free_port, stop, wait_for, wait_http
from tests.support import DOCS_ORDER, SECRET, SHOP, fixture_bytes, live_order, webhook_headers
from tests.test_deploy_systemd import unit_entries

pytestmark = pytest.mark.slow
CALL = re.compile(r"^\d+\s+([a-z_0-9]+)\(", re.M)
FAMILY = re.compile(r"\bsocket\((AF_[A-Z0-9]+)")


def syscall_groups(systemd_analyze: str) -> dict[str, list[str]]:
    listing = subprocess.run([systemd_analyze, "syscall-filter", "--no-pager"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    groups: dict[str, list[str]] = {}
    current = None
    for line in listing.stdout.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    calls: set[str] = set()
    for name in names:
        calls |= expand(groups[name], groups) if name.startswith("@") else {name}
    return calls


def allowed_calls(unit: str, groups: dict[str, list[str]]) -> set[str]:
    """The unit's SystemCallFilter= lines applied in order: the first allows, ``~`` ones remove."""
    allowed: set[str] = set()
    for value in unit_entries(unit)["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= expand(value[1:].split(), groups)
        else:
            allowed |= expand(value.split(), groups)
    return allowed


def traced(strace: str, log: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    with (cwd / f"{log.stem}.out").open("ab") as out:  # the child writes to its own copy
        return subprocess.Popen(
            [strace, "-f", "-qq", "-o", str(log), sys.executable, "-m", "connector.cli", *args],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def used(trace: Path) -> tuple[set[str], set[str]]:
    text = trace.read_text(errors="replace")
    calls = set(CALL.findall(text))
    if os.geteuid() == 0:
        # SQLite hands the -wal/-shm files it creates to the database's owner when (and only
        # when) it runs as root (os_unix.c, robust_open); the units run as `connector`.
        own = list(re.findall(r"^\d+\s+fchown\(\d+, (\d+), (\d+)", text, re.M))
        if own and all(uid == gid == "0" for uid, gid in own):
            calls.discard("fchown")
    return calls, set(FAMILY.findall(text))


def test_web_worker_and_backup_stay_within_the_units_filters(tmp_path):
    strace = require_tool("strace", "strace", "the system-call filter test traces the real processes")
    systemd_analyze = require_tool("systemd-analyze", "systemd", "it expands systemd's system-call groups")
    groups = syscall_groups(systemd_analyze)
    (tmp_path / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    (tmp_path / "multiproc").mkdir()
    port, metrics_port = free_port(), free_port()
    with HttpTargetStandIn() as target:
        env = connector_env(shopify_api_secret=SECRET, database_path=tmp_path / "c.db", target_kind="http", target_all_shops=1,
                            target_base_url=target.url, worker_metrics_port=metrics_port, worker_poll_interval_s=0.1,
                            retry_first_delay_s=0.01)
        web = traced(strace, tmp_path / "web.trace", ["serve", "--bind", f"127.0.0.1:{port}"],
                     {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc")}, tmp_path)
        worker = traced(strace, tmp_path / "worker.trace", ["worker"], env, tmp_path)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
            wait_http(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60)
            url = f"http://127.0.0.1:{port}/webhooks/shopify"
            target.fail_next(1, status=503)
            for order_id in (820982911946154508, 820982911946154509):
                body = live_order(DOCS_ORDER, id=order_id)
                assert requests.post(url, data=body, headers=webhook_headers(body), timeout=30).status_code == 200
            forged = fixture_bytes(DOCS_ORDER)
            assert requests.post(url, data=forged, headers=webhook_headers(forged, secret="x"), timeout=30).status_code == 401
            assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
            assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).status_code == 200
            assert wait_for(lambda: len(target.requests) >= 3, timeout=60)
            assert requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).status_code == 200
            backup = subprocess.run([strace, "-f", "-qq", "-o", str(tmp_path / "backup.trace"), sys.executable, "-m",
                                     "connector.cli", "db", "backup", str(tmp_path / "b.db")],
                                    env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert backup.returncode == 0, backup.stderr
        finally:
            stop(worker)
            stop(web)
    problems = []
    for trace, unit in (("web", "connector-web.service"), ("worker", "connector-worker@.service"),
                        ("backup", "connector-backup.service")):
        calls, families = used(tmp_path / f"{trace}.trace")
        # A real trace: it started, opened and wrote the database (the web app: its intake
        # journal, appended to under an flock; the worker files it into the database).
        wrote = {"write", "flock"} if trace == "web" else {"pwrite64"}
        assert {"execve", "openat", *wrote} <= calls, trace
        allowed = allowed_calls(unit, groups)
        permitted_families = set(unit_entries(unit)["RestrictAddressFamilies"][-1].split())
        problems += [f"{trace}: system call {call} is outside {unit}'s SystemCallFilter" for call in sorted(calls - allowed)]
        problems += [f"{trace}: socket family {f} is outside {unit}'s RestrictAddressFamilies" for f in sorted(families - permitted_families)]
    assert problems == []
