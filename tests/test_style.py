"""The style holds: ruff's lint rules on the code, tests and benchmarks, ruff's format and mypy on ``connector/``.

Both run as the developer would (``ruff check connector tests bench``, ``mypy``), with the
configuration in ``pyproject.toml``, so a lint or type error fails the quick run (``-m "not
slow"``) of whoever wrote it. mypy keeps its cache in ``.mypy_cache`` (git-ignored): a warm run
checks only what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_is_clean():
    result = run("ruff", "check", "--no-cache", "connector", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_connector_is_formatted():
    result = run("ruff", "format", "--check", "--no-cache", "connector")  # fix: `ruff format connector`
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_connector():
    result = run("mypy")  # files, strictness and the cache directory: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout
