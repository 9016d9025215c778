"""The systemd units in deploy/ (web, worker@, backup service and timer), checked for real.

``systemd-analyze verify`` loads each unit as systemd would (it checks the ExecStart binary
exists, so the test points it at this checkout's ``connector``; nothing else is changed) and
must print nothing: it reports unknown keys and bad values as warnings, not as a failing exit
code. ``systemd-analyze security --offline`` scores the hardening. The stop timeouts are checked
against what gunicorn and the worker really need, and a real worker is stopped with SIGTERM in
the middle of a delivery.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests

from connector import gunicorn_conf
from connector.config import SETTINGS
from connector.sandbox.http_target import HttpTargetStandIn
from tests.external_tools import missing, require_tool
from tests.processes import ROOT, connector_env, free_port, start_connector, stop, wait_for, wait_http
from tests.support import DOCS_ORDER, SECRET, SHOP, fixture_bytes, webhook_headers

DEPLOY = ROOT / "deploy"
UNITS = ("connector-web.service", "connector-worker@.service", "connector-backup.service", "connector-backup.timer")
LONG_RUNNING = ("connector-web.service", "connector-worker@.service")
SHIPPED_BINARY = "/opt/connector/venv/bin/connector"
DEFAULTS = {s.name: s.default for s in SETTINGS}


def unit_entries(name: str) -> dict[str, list[str]]:
    """``Key`` → every value it is given in the unit's [Service] section (keys may repeat)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            entries.setdefault(key, []).append(value)
    return entries


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min)?", value)
    assert match, value
    return float(match[1]) * (60 if match[2] == "min" else 1)


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    return require_tool("systemd-analyze", "systemd", "the systemd unit tests run systemd-analyze")


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """The shipped units, with ExecStart pointing at this checkout's `connector` (verify checks it exists)."""
    binary = Path(sys.executable).parent / "connector"
    assert binary.exists(), f"{binary} missing: install the package (pip install -e .)"
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        assert text.count(SHIPPED_BINARY) == (0 if name.endswith(".timer") else 1), name
        (tmp_path / name).write_text(text.replace(SHIPPED_BINARY, str(binary)))
    return tmp_path


def verify(systemd_analyze: str, unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_units_load_cleanly_in_systemd(systemd_analyze, unit_dir):
    # A control first: a unit that cannot be wrong. If even it does not load, systemd-analyze
    # cannot work on this machine (e.g. no /run, a container without systemd's files).
    control = unit_dir / "control.service"
    control.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    result = verify(systemd_analyze, control)
    if result.returncode != 0 or result.stderr.strip():
        missing(f"systemd-analyze verify cannot run here: {result.stderr.strip() or result.returncode}")
    # ...and a unit with a typo, which must be reported: the check below can fail.
    typo = unit_dir / "typo.service"
    typo.write_text((unit_dir / "connector-web.service").read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in verify(systemd_analyze, typo).stderr
    for unit in ("connector-web.service", "connector-worker@9101.service", "connector-worker@9102.service",
                 "connector-backup.service", "connector-backup.timer"):
        result = verify(systemd_analyze, unit_dir / unit)
        assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", (unit, result.stderr)


@pytest.mark.slow
def test_units_are_hardened(systemd_analyze, unit_dir):
    required = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "StateDirectory": "connector", "User": "connector", "EnvironmentFile": "/etc/connector/connector.env",
        "Restart": "always", "KillMode": "mixed", "KillSignal": "SIGTERM", "CapabilityBoundingSet": "",
    }
    for name in UNITS[:3]:
        entries = unit_entries(name)
        wanted = required if name in LONG_RUNNING else {k: v for k, v in required.items() if k not in ("Restart", "KillMode", "KillSignal")}
        assert {key: entries.get(key, [None])[-1] for key in wanted} == wanted, name
        # The database lives in the state directory (the only place besides /run it may write).
        assert entries["Environment"].count("CONNECTOR_DATABASE_PATH=/var/lib/connector/connector.db") == 1
        assert entries["WorkingDirectory"] == ["/var/lib/connector"]
        assert not any("SECRET" in value or "TOKEN" in value for value in entries["Environment"])  # secrets: EnvironmentFile
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", "--threshold=20", "--no-pager",
         str(unit_dir / "connector-web.service"), str(unit_dir / "connector-worker@9101.service"),
         str(unit_dir / "connector-backup.service")],
        capture_output=True, text=True, timeout=60,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        missing(f"this systemd-analyze has no offline security review (systemd ≥ 250): {result.stderr.strip()}")
    scores = [float(x) for x in re.findall(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)]
    assert len(scores) == 3 and result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert max(scores) <= 2.0  # systemd's scale: 0 (locked down) … 10 (unprotected); "OK" is below 4


def test_web_metrics_directory_is_the_fresh_runtime_directory():
    entries = unit_entries("connector-web.service")
    assert entries["RuntimeDirectory"] == ["connector-web"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/connector-web" in entries["Environment"]
    assert entries["Type"] == ["notify"]  # gunicorn's master sends READY=1
    worker = unit_entries("connector-worker@.service")
    assert "CONNECTOR_WORKER_METRICS_PORT=%i" in worker["Environment"]  # one metrics port per instance


def test_stop_timeouts_cover_a_graceful_stop():
    web = seconds(unit_entries("connector-web.service")["TimeoutStopSec"][0])
    assert web >= gunicorn_conf.graceful_timeout + 5  # gunicorn's workers finish their requests first
    worker = seconds(unit_entries("connector-worker@.service")["TimeoutStopSec"][0])
    in_flight = DEFAULTS["retry.in_process_window_s"] + DEFAULTS["target.timeout_s"]
    assert worker >= in_flight + 5  # the longest a delivery in flight can take with the defaults


@pytest.mark.slow
def test_worker_finishes_its_delivery_on_sigterm(tmp_path):
    """What systemd's stop does to a worker: SIGTERM mid-delivery; the delivery completes, exit 0."""
    db_path = tmp_path / "c.db"
    (tmp_path / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    port = free_port()
    with HttpTargetStandIn(latency_s=2.0) as target:
        env = connector_env(shopify_api_secret=SECRET, database_path=db_path, target_kind="http", target_all_shops=1,
                            target_base_url=target.url, worker_poll_interval_s=0.1)
        web = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path, tmp_path / "web.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            body = fixture_bytes(DOCS_ORDER)
            assert requests.post(f"http://127.0.0.1:{port}/webhooks/shopify", data=body,
                                 headers=webhook_headers(body)).status_code == 200
        finally:
            stop(web)
        worker = start_connector(["worker"], env, tmp_path, tmp_path / "worker.log")
        try:
            assert wait_for(lambda: len(target.requests) >= 1 or worker.poll() is not None, timeout=20)
            stopped_at = time.monotonic()
            worker.send_signal(signal.SIGTERM)  # to the main process only, as KillMode=mixed does
            code = worker.wait(30)
            took = time.monotonic() - stopped_at
        finally:
            stop(worker)
    log = (tmp_path / "worker.log").read_text()
    assert code == 0, log
    assert took < seconds(unit_entries("connector-worker@.service")["TimeoutStopSec"][0])
    with closing(sqlite3.connect(db_path)) as db, db:
        assert db.execute("SELECT status FROM orders").fetchone()[0] == "synced", log  # finished, not abandoned
    assert len(target.requests) == 1


@pytest.mark.slow
def test_the_backup_unit_makes_a_dated_backup_and_drops_old_ones(tmp_path, app, db_path, post):
    """The backup unit's ExecStart and ExecStartPost, run as systemd would run them (% unescaped)."""
    assert post(fixture_bytes(DOCS_ORDER)).status_code == 200
    entries = unit_entries("connector-backup.service")
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "connector-20200101T031700Z.db"
    old.write_bytes(b"an old backup")
    os.utime(old, (time.time() - 20 * 86400,) * 2)
    env = {**os.environ, "BACKUP_DIR": str(backups), "CONNECTOR_DATABASE_PATH": db_path, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    binary = str(Path(sys.executable).parent / "connector")
    [start] = entries["ExecStart"]
    argv = shlex.split(start.replace("%%", "%").replace(SHIPPED_BINARY, binary))
    made = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    [post_step] = entries["ExecStartPost"]
    argv = [part.replace("${BACKUP_DIR}", str(backups)) for part in shlex.split(post_step)]
    assert subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    [backup] = backups.iterdir()  # the old one is gone, the new one is there
    assert re.fullmatch(r"connector-\d{8}T\d{6}Z\.db", backup.name)
    with closing(sqlite3.connect(backup)) as conn, conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert "/var/backups/connector" in entries["ReadWritePaths"]  # where ProtectSystem=strict lets it write
