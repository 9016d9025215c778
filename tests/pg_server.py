"""A throwaway PostgreSQL server for the tests, started from the distribution's binaries.

``CONNECTOR_TEST_PG_URL`` names an existing server instead (a role that may create databases;
the databases ``t_<pid>_<n>`` and ``connector_template_<pid>`` are the tests' own). Otherwise ``initdb`` and ``postgres`` are looked up
under ``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu), ``pg_config --bindir`` or ``PATH``; as root
they run as the ``postgres`` user (PostgreSQL refuses to run as root) in a directory that user
owns. The server is tuned for speed only (no fsync: its data is thrown away), and every test
gets its own database, cloned from a migrated template.
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
from pathlib import Path

INSTALL_HINT = "install PostgreSQL's server (Debian: apt-get install postgresql) or set CONNECTOR_TEST_PG_URL"
# Test-only speed settings; never for a real store.
FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 "
        "-c shared_buffers=64MB -c max_wal_size=1GB")


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

    @classmethod
    def start(cls, bindir: str) -> PgServer:
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
        server._options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {FAST}"
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
        if self.datadir is None:
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
        """A fresh database of its own; ``migrated`` clones the migrated template (fast)."""
        name = f"t_{os.getpid()}_{next(self._count)}"
        if migrated:
            self._ensure_template()
            self.admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        else:
            self.admin(f"CREATE DATABASE {name}")
        return self.database_url(name)

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from connector.store.db import connect
        from connector.store.migrations import migrate

        self.admin(f"DROP DATABASE IF EXISTS {self.template}")
        self.admin(f"CREATE DATABASE {self.template}")
        db = connect(self.database_url(self.template))
        try:
            migrate(db)
        finally:
            db.close()
        self._template_ready = True


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
