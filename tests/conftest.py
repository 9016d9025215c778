"""Shared fixtures: a real Flask app on a temporary store, signed webhooks, a worker (the helpers
they use live in ``tests/support.py``).

The store is a SQLite file, or — in modules marked ``both_engines`` (each test runs twice) and
tests marked ``postgres_only`` — a database of its own on a real PostgreSQL server that the
session starts (:mod:`tests.pg_server`). A test of such a module that only makes sense on SQLite
(file locks, WAL, PRAGMAs) is marked ``sqlite_only``; an end-to-end test too slow to run twice
runs on the one engine its ``one_engine`` marker names (the module's other tests cover its SQL
on both). Without a server and its binaries the
PostgreSQL runs are skipped with what to install; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from hypothesis import settings as hypothesis_settings

from connector.app import create_app
from connector.config import Settings
from connector.sandbox.http_target import HttpTargetStandIn
from connector.store.db import close_shared_dbs, close_thread_dbs, connect
from connector.store.journal import close_journals
from connector.targets.http_session import HttpSession
from connector.worker.loop import Worker, WorkerStats
from tests.external_tools import missing
from tests.pg_server import INSTALL_HINT, PgServer, find_bindir
from tests.support import (  # noqa: F401 - re-exported for branches written before tests/support.py
    DOCS_ORDER,
    OLD_ORDER,
    ORDER_ID,
    SECRET,
    SHOP,
    TRIGGERED_AT,
    documented_fulfillment,
    fast_settings,
    fixture_bytes,
    live_order,
    make_settings,
    order_body,
    post_webhook,
    store_settings,
    webhook_headers,
    with_values,
    writes_blocked,
)


class _TrackedConnection(sqlite3.Connection):
    """A connection that warns (ResourceWarning) when it is dropped without ``close()``, as
    Python 3.13's own do: an unclosed connection fails the test that dropped it
    (:func:`_nothing_left_open`)."""

    _open = False  # until it has opened: one that could not (a folder, a missing file) holds nothing

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = True
        # Where it was opened: the first frames of ours, so the warning names the culprit.
        frames = [f for f in traceback.extract_stack()[:-2] if "/connector/" in f.filename or "/tests/" in f.filename]
        self._opened_at = " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-4:]))

    def close(self) -> None:
        self._open = False
        super().close()

    def __del__(self) -> None:
        if self._open:
            warnings.warn(f"unclosed database connection opened at {self._opened_at}", ResourceWarning, stacklevel=1)


def _connect_tracked(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    kwargs.setdefault("factory", _TrackedConnection)
    return _sqlite3_connect(*args, **kwargs)


if sys.version_info < (3, 13):
    _sqlite3_connect = sqlite3.connect
    sqlite3.connect = _connect_tracked  # type: ignore[assignment]

@pytest.fixture(autouse=True)
def _nothing_left_open() -> Iterator[None]:
    """A test that leaves a socket, a file or a database connection open fails.

    The ResourceWarnings are recorded and checked here rather than raised where they are issued:
    they come from finalizers, and an exception there can corrupt Python 3.11's parser state
    (pytest then dies with "AST constructor recursion depth mismatch")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
    leaks = []
    for warning in caught:
        if issubclass(warning.category, ResourceWarning):
            leaks.append(str(warning.message))
        else:  # not ours to judge: pass it on to pytest's summary
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if leaks:
        pytest.fail("left open: " + "; ".join(sorted(set(leaks))[:5]), pytrace=False)


# Property tests run the same examples every time (CI must not turn red by luck); a failure
# they ever found is kept as an explicit regression test.
hypothesis_settings.register_profile("connector", derandomize=True, database=None)
hypothesis_settings.load_profile("connector")

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test on both engines where its module (or class) is marked ``both_engines``."""
    if "engine" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    # The PostgreSQL runs start a server (once per session): slow, so the edit loop stays on SQLite.
    postgres = pytest.param("postgres", marks=pytest.mark.slow)
    one = marked("one_engine")
    if marked("postgres_only"):
        metafunc.parametrize("engine", [postgres])
    elif one and marked("both_engines"):
        metafunc.parametrize("engine", [postgres if one.args[0] == "postgres" else "sqlite"])
    elif marked("both_engines") and not marked("sqlite_only"):
        metafunc.parametrize("engine", ["sqlite", postgres])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A PostgreSQL-only test needs the test server: slow, like the PostgreSQL runs of the others."""
    for item in items:
        if item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def engine() -> str:
    """The store's engine for this test: SQLite unless the test is parametrised."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("CONNECTOR_TEST_PG_URL")
    if url:
        yield PgServer(url)
        return
    bindir = find_bindir()
    if bindir is None:
        missing(f"no PostgreSQL server binaries (initdb) for the store's tests: {INSTALL_HINT}")
    server = PgServer.start(bindir)
    yield server
    close_shared_dbs()
    server.stop()


@pytest.fixture
def db_path(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where this test's store is: a SQLite file, or the URL of an empty, migrated PostgreSQL
    database of its own (given back for the next test afterwards). ``connect(db_path)`` opens either."""
    if engine == "sqlite":
        yield str(tmp_path / "connector.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    yield url
    close_shared_dbs()
    server.recycle(url)


@pytest.fixture
def target() -> Iterator[HttpTargetStandIn]:
    with HttpTargetStandIn() as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def overrides(db_path: str, target: HttpTargetStandIn) -> dict[str, Any]:
    """Settings for a fast test against the http target stand-in."""
    return fast_settings(db_path, kind="http", base_url=target.url)


@pytest.fixture
def settings(overrides: dict[str, Any], tmp_path: Path) -> Settings:
    return make_settings(tmp_path, shop={}, **overrides)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    app = create_app(settings=settings)
    app.config["TESTING"] = True
    yield app
    close_thread_dbs()
    close_shared_dbs()
    close_journals()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def post(client) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """post(body, topic=..., **header options) → response."""

    def _post(body: bytes, topic: str = "orders/create", **kwargs: Any):  # type: ignore[no-untyped-def]
        return post_webhook(client, topic, body, **{"triggered_at": "now", **kwargs})

    return _post


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpSession]:
    """The target clients' HTTP session, with no proxy taken from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    session = HttpSession()
    yield session
    session.close()


@pytest.fixture
def run_worker(settings: Settings) -> Callable[..., WorkerStats]:
    def _run(**changes: Any) -> WorkerStats:
        return Worker(with_values(settings, **changes)).run(once=True)

    return _run


@pytest.fixture
def db(db_path: str, app) -> Iterator[sqlite_utils.Database]:  # type: ignore[no-untyped-def]
    """A handle of the test's own on the store (after the app migrated it)."""
    database = connect(db_path)
    yield database
    database.close()
