"""The direction imports may run (docs/architecture.md), held by a test rather than by good intentions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "connector"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _within(name: str, package: str) -> bool:
    """``name`` is ``package`` or one of its submodules (``connector.targets.httpclient`` is not in ``…http``)."""
    return name == package or name.startswith(package + ".")


def modules(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py")) if parts else sorted(PACKAGE.rglob("*.py"))


def test_only_app_web_and_cli_import_flask():
    for path in modules():
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("web", "cli") or rel.name == "app.py":
            continue
        assert not any(name == "flask" or name.startswith("flask.") for name in imports_of(path)), rel


def test_the_webhook_receiver_knows_nothing_of_targets_or_the_worker():
    for name in imports_of(PACKAGE / "web" / "webhooks.py"):
        assert not name.startswith(("connector.targets", "connector.worker")), name


def test_targets_never_import_each_other_nor_the_store():
    targets = [p.name for p in (PACKAGE / "targets").iterdir() if p.is_dir() and not p.name.startswith("_")]
    for target in targets:
        for path in modules("targets", target):
            for name in imports_of(path):
                others = [t for t in targets if t != target]
                assert not any(_within(name, f"connector.targets.{other}") for other in others), (path, name)
                assert not name.startswith(("connector.store", "connector.worker", "sqlite_utils")), (path, name)


def test_mapping_modules_are_pure():
    for path in PACKAGE.glob("targets/*/mapping.py"):
        for name in imports_of(path):
            assert not name.startswith(("requests", "tenacity", "sqlite_utils", "flask", "connector.store")), (path, name)


def test_verification_is_pure():
    for name in imports_of(PACKAGE / "shopify" / "verify.py"):
        assert name.split(".")[0] in {"__future__", "base64", "hashlib", "hmac", "typing", "time", "urllib", "collections"}, name


def test_id_token_verification_is_pure():
    allowed = {"__future__", "collections", "dataclasses", "typing", "urllib", "jwt", "connector"}
    for name in imports_of(PACKAGE / "shopify" / "session_token.py"):
        assert name.split(".")[0] in allowed, name
        assert not name.startswith("connector.") or name in {"connector.errors", "connector.shopify.domains"}, name


def test_the_shopify_package_speaks_shopify_and_keeps_nothing():
    """What the app keeps about a shop (tokens, installs) is lifecycle's; shopify/ is the protocol."""
    for path in modules("shopify"):
        for name in imports_of(path):
            assert not name.startswith(("connector.store", "connector.lifecycle", "sqlite_utils", "sqlite3")), (path, name)


def test_the_store_builds_on_nothing_but_itself():
    """The store is the bottom layer: what to redact or deliver is decided above it."""
    for path in modules("store"):
        for name in imports_of(path):
            if name.startswith("connector"):
                assert _within(name, "connector.store") or name in ("connector.timeutil", "connector.models"), (path, name)


def test_sql_is_executed_only_in_the_store():
    """SQL text lives in store modules only (one place to port to another database)."""
    for path in modules():
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        calls = {
            node.func.attr for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"execute", "executemany", "executescript", "query"}, path


def test_only_the_sandbox_command_imports_the_stand_ins():
    """The stand-ins ship with the package for `connector sandbox`; the connector never uses them."""
    for path in modules():
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "sandbox" or rel == Path("cli", "sandbox.py"):
            continue
        assert not any(_within(name, "connector.sandbox") for name in imports_of(path)), rel


def test_only_the_store_imports_sqlite():
    """Everything else names ``connector.store.db.Db`` and ``STORE_ERRORS``: one package per engine."""
    for path in modules():
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        for name in imports_of(path):
            assert name.split(".")[0] not in ("sqlite3", "sqlite_utils", "psycopg"), (path, name)
