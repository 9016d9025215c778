"""Tests that need a program from outside Python (nginx, promtool, systemd-analyze, …).

``require_tool`` finds it or says how to get it. Locally a missing tool skips the test with the
install instruction; under ``CI=true`` it fails the test: CI must never turn green by skipping.
``scripts/test`` installs every tool listed in it when it runs as root.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Debian keeps daemons' binaries in sbin, which a non-root PATH often lacks.
_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(message: str) -> None:
    """Skip locally, fail under CI, with ``message`` saying what to install."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def require_tool(binary: str, debian_package: str, needed_for: str) -> str:
    """The path of ``binary``; otherwise skip (locally) or fail (CI) naming the package to install."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    path = shutil.which(binary, path=search)
    if path is None:
        missing(
            f"{binary} not found ({needed_for}): install Debian's {debian_package} package "
            f"(`apt-get install -y --no-install-recommends {debian_package}`), or run scripts/test as root"
        )
    return path  # type: ignore[return-value]
