"""A throwaway PostgreSQL server for the tests, started from the distribution's binaries.

``CONNECTOR_TEST_PG_URL`` names an existing server instead (a role that may create databases;
the databases ``t_<pid>_<n>`` and ``connector_template_<pid>`` are the tests' own, dropped at the
end). Otherwise ``initdb`` and ``postgres`` are looked up under ``/usr/lib/postgresql/*/bin``
(Debian, Ubuntu), ``pg_config --bindir`` or ``PATH``; as root they run as the ``postgres`` user
(PostgreSQL refuses to run as root) in a directory that user owns. The tests' server is tuned for
speed only (``FAST``: no fsync, its data is thrown away; the benchmarks start theirs ``DURABLE``),
and every test gets a database of its own: a migrated one that an earlier test gave back, emptied
(see :meth:`PgServer.recycle`), or else a new clone of the migrated template.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

INSTALL_HINT = "install PostgreSQL's server (Debian: apt-get install postgresql) or set CONNECTOR_TEST_PG_URL"
COMMON = "-c max_connections=400 -c shared_buffers=64MB -c max_wal_size=1GB"
# Test-only speed settings; never for a real store.
FAST = f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off {COMMON}"
# What a real store runs with (every commit flushed): for benchmarks beside SQLite.
DURABLE = COMMON


def find_bindir() -> str | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True):
        return str(Path(initdb).parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if Path(bindir, "initdb").exists():
            return bindir
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def _version(path: str) -> tuple[int, ...]:
    digits = Path(path).parent.parent.name
    return tuple(int(p) for p in digits.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A running server: ``url`` of its maintenance database, ``new_database()`` per test."""

    def __init__(self, url: str, bindir: str | None = None, datadir: Path | None = None, user: str | None = None) -> None:
        self.url = url
        self.bindir, self.datadir, self.user = bindir, datadir, user
        self._count = itertools.count(1)
        self.template = f"connector_template_{os.getpid()}"  # one per test session
        self._template_ready = False
        self._fingerprint: str | None = None
        self._tables: list[str] = []
        self._clean: list[str] = []  # migrated databases given back, emptied, ready for a test
        self._ours: set[str] = set()
        self._guard = threading.Lock()

    @classmethod
    def start(cls, bindir: str, settings: str = FAST) -> PgServer:
        as_root = os.geteuid() == 0
        user = "postgres" if as_root else None
        base = Path(tempfile.mkdtemp(prefix="connector-test-pg-"))
        if as_root:
            _ensure_user("postgres")
            entry = pwd.getpwnam("postgres")
            os.chown(base, entry.pw_uid, entry.pw_gid)
        base.chmod(0o700)
        datadir = base / "data"
        server = cls("", bindir, datadir, user)
        server._run("initdb", "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N")
        port = _free_port()
        server.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        server._options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {settings}"
        server._pg_ctl("start")
        return server

    def _run(self, tool: str, *args: str) -> None:
        command = [str(Path(self.bindir or "", tool)), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        assert self.datadir is not None, "an external server (CONNECTOR_TEST_PG_URL) is not ours to control"
        log = str(self.datadir.parent / "server.log")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", log, "-w", "-t", "60", "-o", self._options, *extra, action)

    def restart(self) -> None:
        """Stop at once (``immediate``: connections cut as by a crash) and start again."""
        self._pg_ctl("stop", "-m", "immediate")
        self._pg_ctl("start")

    def stop_server(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def start_server(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        if self.datadir is None:  # an external server: leave it as we found it
            self.drop_databases()
            return
        try:
            self._pg_ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + name

    def new_database(self, migrated: bool = True) -> str:
        """A database of its own; ``migrated`` takes an emptied one given back by an earlier test,
        or clones the migrated template."""
        if migrated:
            self._ensure_template()
            with self._guard:
                if self._clean:
                    return self.database_url(self._clean.pop())
        name = f"t_{os.getpid()}_{next(self._count)}"
        self._ours.add(name)
        if migrated:
            self.admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        else:
            self.admin(f"CREATE DATABASE {name}")
        return self.database_url(name)

    def recycle(self, url: str) -> None:
        """Take a test's database back for the next test: its sessions ended, every row deleted
        and the id sequences reset, so it is as the template left it. Cloning costs a copy of
        the whole database and a checkpoint (~1 s on a loaded 2-core machine, ~160 times a run);
        this costs a few small DELETEs. A database whose schema or settings no longer match the
        template's (a test migrated, altered or dropped something) is dropped instead."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        if name not in self._ours or not self._template_ready:
            return
        self.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                if _fingerprint(conn) != self._fingerprint:
                    raise ValueError("schema changed")
                conn.execute(_EMPTY_SQL.format(deletes="".join(f"DELETE FROM {t};" for t in self._tables)))
        except (psycopg.Error, ValueError):
            self._drop(name)
            return
        with self._guard:
            self._clean.append(name)

    def _drop(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._ours.discard(name)

    def drop_databases(self) -> None:
        """Drop every database this session created (on a server that is not ours alone)."""
        for name in [*self._ours, self.template]:
            self._drop(name)

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        import psycopg

        from connector.store.db import connect
        from connector.store.migrations import migrate

        self.admin(f"DROP DATABASE IF EXISTS {self.template}")
        self.admin(f"CREATE DATABASE {self.template}")
        db = connect(self.database_url(self.template))
        try:
            migrate(db)
            migrations_table = db.dialect.migrations_table
        finally:
            db.close()
        with psycopg.connect(self.database_url(self.template), autocommit=True) as conn:
            self._fingerprint = _fingerprint(conn)
            tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
            for table in tables:  # only the migrations' own bookkeeping may have rows in a fresh store
                if table != migrations_table and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                    raise AssertionError(f"the migrated template has rows in {table}: recycling would lose them")
        self._tables = [table for table in tables if table != migrations_table]
        self._template_ready = True


# What a recycled database must still have, as in the template: tables, columns, indexes,
# triggers, functions, applied migrations and per-database settings.
_FINGERPRINT_SQL = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || coalesce(column_default, ''), ','
                     ORDER BY table_name, column_name)
   FROM information_schema.columns WHERE table_schema = 'public'),
  (SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'public'),
  (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal),
  (SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = 'public'),
  (SELECT string_agg(name, ',' ORDER BY name) FROM connector_migrations),
  (SELECT string_agg(array_to_string(setconfig, ','), ';') FROM pg_db_role_setting s
   JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database())
))
"""
# Every row of the store's tables, and the id sequences back to 1 (tests may count on fresh ids).
_EMPTY_SQL = """
{deletes}
SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname = 'public';
"""


def _fingerprint(conn: Any) -> str:
    return conn.execute(_FINGERPRINT_SQL).fetchone()[0]


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
