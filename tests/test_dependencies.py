"""The dependency floors in pyproject.toml admit no release with a published advisory we know of.

Each row names the advisory and the first release that fixes it; a floor below that release
would let ``pip install`` pick a vulnerable version on a machine that already has one.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# (package, first fixed release, advisory)
ADVISORIES = [
    ("gunicorn", "22.0.0", "CVE-2024-1135: request smuggling through conflicting Transfer-Encoding"),
    ("gunicorn", "23.0.0", "CVE-2024-6827: request smuggling, Transfer-Encoding not validated"),
    ("requests", "2.32.0", "CVE-2024-35195: verify=False sticks to a session's later requests"),
    ("requests", "2.32.4", "CVE-2024-47081: .netrc credentials sent to the wrong host"),
    ("orjson", "3.9.15", "CVE-2024-27454: no recursion limit for deeply nested documents"),
    ("cryptography", "42.0.4", "CVE-2024-26130: NULL dereference on malformed PKCS#12"),
    ("werkzeug", "3.0.3", "CVE-2024-34069: debugger remote code execution"),
    ("werkzeug", "3.0.6", "CVE-2024-49767: multipart parsing exhausts resources"),
    ("werkzeug", "3.0.6", "CVE-2024-49766: safe_join UNC paths on Windows"),
    ("pyjwt", "2.10.1", "CVE-2024-53861: partial issuer comparison"),
    ("gevent", "23.9.0", "CVE-2023-41419: pywsgi lets a remote attacker escalate privileges"),
    ("gevent", "25.4.1", "gevent#2075: pywsgi's 100-continue answer enables request smuggling (fixed 2024-11-30)"),
]


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


@pytest.mark.parametrize("package, fixed, advisory", ADVISORIES, ids=[a[2].split(":")[0] + "-" + a[0] for a in ADVISORIES])
def test_floor_is_past_the_advisory(package: str, fixed: str, advisory: str) -> None:
    requirement = _requirements().get(package)
    assert requirement is not None, f"{package} must be a direct dependency with a floor ({advisory})"
    floor = _floor(requirement)
    assert floor is not None and floor >= Version(fixed), f"{requirement}: raise the floor to {fixed} ({advisory})"


def test_sqlite_utils_floor_has_the_migrations_the_store_uses() -> None:
    """``sqlite_utils.Migrations`` first shipped in sqlite-utils 4.0 (3.39, the last 3.x, has no
    ``migrations`` module). Stores made before the PostgreSQL port were migrated by it, and
    connector/store/migrations.py (its own class since then) keeps their history in its table,
    ``_sqlite_migrations``: a floor below 4.0 would admit a release that never wrote it."""
    import sqlite_utils

    assert hasattr(sqlite_utils, "Migrations")
    floor = _floor(_requirements()["sqlite-utils"])
    assert floor is not None and floor >= Version("4.0")


def test_installed_versions_satisfy_the_floors() -> None:
    for name, requirement in _requirements().items():
        installed = Version(metadata.version(name))
        assert requirement.specifier.contains(installed, prereleases=True), f"installed {name} {installed} vs {requirement}"
