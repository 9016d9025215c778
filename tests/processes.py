"""Starting the real `connector` processes (gunicorn, worker, run) for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connector_env(**settings: Any) -> dict[str, str]:
    """The environment for a child `connector` process: settings as CONNECTOR_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    # Many tests start workers at once on one machine: their metrics only where a test asks.
    env["CONNECTOR_WORKER_METRICS_PORT"] = "0"
    for name, value in settings.items():
        env["CONNECTOR_" + name.upper()] = str(value)
    return env


def start_connector(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child writes to its own copy of the file descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "connector.cli", *args], env=env, cwd=cwd,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_http(url: str, timeout: float = 60.0) -> None:  # a loaded CI machine starts slowly
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def stop(process: subprocess.Popen, sig: int = 15, timeout: float = 15.0) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        return process.wait(5)
