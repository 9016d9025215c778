"""Golden files: expected output saved next to the tests, regenerated with UPDATE_GOLDEN=1.

    UPDATE_GOLDEN=1 python -m pytest tests/test_mapping_foxdeli.py   # rewrite, then review the diff
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"
FIXTURES_DIR = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """A Shopify payload from tests/fixtures (Python's json keeps 64-bit ids exact)."""
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def order_fixtures() -> list[str]:
    """Every order payload in tests/fixtures (file names starting with ``orders_``)."""
    return sorted(p.name for p in FIXTURES_DIR.glob("orders_*.json"))


def assert_golden(actual: Any, target: str, name: str) -> None:
    """Compare ``actual`` with golden/<target>/<name>.json, or rewrite it under UPDATE_GOLDEN=1."""
    path = GOLDEN_DIR / target / name
    rendered = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, f"mapping differs from {path}; UPDATE_GOLDEN=1 rewrites it"
