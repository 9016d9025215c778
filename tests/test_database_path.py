"""A database path that cannot serve (issue 12, item 8): one line naming the path, never a
traceback, and never a new empty database behind a command that only reads.

The read-only case is a read-only filesystem (a small tmpfs remounted ``ro``, as root: root
ignores file modes) or, for another user, file and folder modes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from tests.conftest import SECRET
from tests.processes import connector_env, free_port

READING = [["status"], ["failures"], ["jobs"], ["payloads"], ["privacy", "requests"], ["shops", "list"], ["replay", "--all"]]


def invoke(args: list[str], database: Path | str, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, args, env={"CONNECTOR_DATABASE_PATH": str(database), "CONNECTOR_CONFIG": "", **env})


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def run_connector(args: list[str], database: Path | str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """A real `connector` process: a hang (the old `worker --once`) fails the test, not the suite."""
    env = connector_env(shopify_api_secret=SECRET, database_path=database)
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just a text file the path points at by mistake\n")
    return path


@pytest.mark.parametrize("args", READING, ids=" ".join)
def test_a_command_that_reads_never_creates_a_database(tmp_path: Path, args: list[str]) -> None:
    typo = tmp_path / "conector.db"
    result = invoke(args, typo)
    assert result.exit_code == 1
    assert one_line(result.output) == (
        f"Error: no database at {typo}: nothing was ever stored there (correct database.path; "
        "`connector serve`, `worker` or `run` create it)"
    )
    assert list(tmp_path.iterdir()) == []  # no empty database, no -wal, no lock file


@pytest.mark.parametrize("args", [*READING, ["worker", "--once"]], ids=" ".join)
def test_a_file_that_is_not_a_database_is_one_line(text_file: Path, args: list[str]) -> None:
    result = invoke(args, text_file)
    assert result.exit_code == 1
    assert one_line(result.output) == f"Error: {text_file} is not a SQLite database: correct database.path"
    assert text_file.read_text().startswith("not a database")  # untouched


@pytest.mark.parametrize("args", [*READING, ["worker", "--once"], ["resync", "--shop", "a.myshopify.com", "--order", "1"]], ids=" ".join)
def test_a_missing_folder_is_one_line_and_never_created(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "no-such-folder" / "connector.db"
    result = invoke(args, path)
    assert result.exit_code == 1
    assert one_line(result.output) == (
        f"Error: database {path}: the folder {path.parent} does not exist (create it, or correct database.path)"
    )
    assert not path.parent.exists()


def test_worker_once_on_a_wrong_file_exits_with_one_line(tmp_path: Path, text_file: Path) -> None:
    """It used to retry for ever ("store not ready … retrying")."""
    result = run_connector(["worker", "--once"], text_file, tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: {text_file} is not a SQLite database: correct database.path"]


def test_serve_on_a_wrong_file_is_one_line_not_gunicorns_traceback(tmp_path: Path, text_file: Path) -> None:
    result = run_connector(["serve", "--bind", f"127.0.0.1:{free_port()}"], text_file, tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: {text_file} is not a SQLite database: correct database.path"]


def test_a_folder_as_the_path_is_one_line(tmp_path: Path) -> None:
    result = invoke(["status"], tmp_path)
    assert result.exit_code == 1 and one_line(result.output) == f"Error: database {tmp_path} is a folder, not a file: correct database.path"


def test_commands_that_run_the_connector_still_create_it(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = invoke(["worker", "--once"], path, CONNECTOR_SHOPIFY_API_SECRET=SECRET)
    assert result.exit_code == 0, result.output
    assert path.exists()
    status = invoke(["status"], path)
    assert status.exit_code == 0 and "orders: none yet" in status.output  # now it is true


@pytest.fixture
def read_only_database(tmp_path: Path) -> Iterator[Path]:
    """A real database made read-only: by its filesystem (root) or its modes (anyone else)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True).returncode == 0
        if not mounted:
            pytest.fail("running as root but cannot mount a tmpfs for the read-only database")
    database = folder / "connector.db"
    # In another process: no connection of this one may hold the file open for the remount.
    assert run_connector(["worker", "--once"], database, tmp_path).returncode == 0
    try:
        if mounted:
            assert subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True).returncode == 0
        else:
            database.chmod(0o444)
            folder.chmod(0o555)
        yield database
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)


@pytest.mark.parametrize("args", [["worker", "--once"], ["serve", "--bind"], ["run", "--bind"]], ids=" ".join)
def test_a_read_only_database_stops_the_connector_in_one_line(tmp_path: Path, read_only_database: Path, args: list[str]) -> None:
    if args[-1] == "--bind":
        args = [*args, f"127.0.0.1:{free_port()}"]
    result = run_connector(args, read_only_database, tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: database {read_only_database} is read-only: the connector writes to it "
        "(check the file's permissions and its filesystem)"
    ]


def test_a_read_only_database_is_one_line_for_a_command_that_reads(read_only_database: Path) -> None:
    result = invoke(["status"], read_only_database)
    assert "Traceback" not in result.output
    if result.exit_code != 0:  # SQLite could not open the WAL database without writing beside it
        assert one_line(result.output).startswith(f"Error: database {read_only_database}: ")
        assert "read-only" in result.output
