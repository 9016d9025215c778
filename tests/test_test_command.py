"""The README's test command, scripts/test and .ci/run stay one thing.

CI runs exactly the README's command; scripts/test installs every tool a test asks for with
``require_tool`` (same binary, same Debian package), so a fresh machine can run them all.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess

from tests.processes import ROOT

README = (ROOT / "README.md").read_text()
SCRIPT = ROOT / "scripts" / "test"


def readme_test_command() -> str:
    block = re.search(r"Run the tests:\s*```sh\n(.*?)\n```", README, re.S)
    assert block, "README: no test command after 'Run the tests:'"
    return block[1].strip()


def script_tools() -> set[tuple[str, str]]:
    body = re.search(r"SYSTEM_TOOLS=\((.*?)\n\)", SCRIPT.read_text(), re.S)
    assert body
    return {tuple(m.groups()) for m in re.finditer(r'^\s*"(\S+)\s+(\S+)"', body[1], re.M)}  # type: ignore[misc]


def required_tools() -> set[tuple[str, str]]:
    """Every require_tool(binary, package, ...) call in the tests."""
    found = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require_tool":
                binary, package = (arg.value for arg in node.args[:2])  # type: ignore[attr-defined]
                found.add((binary, package))
    return found


def test_ci_runs_the_readme_test_command():
    command = readme_test_command()
    assert command == "scripts/test"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == command and "export CI=true" in ci


def test_the_script_installs_every_tool_a_test_requires():
    needed = required_tools()
    assert {("nginx", "nginx"), ("promtool", "prometheus"), ("systemd-analyze", "systemd")} <= needed
    assert needed <= script_tools()


def test_the_script_is_executable_and_valid_bash():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, timeout=30).returncode == 0


def test_a_missing_tool_skips_locally_and_fails_under_ci(monkeypatch):
    import pytest

    from tests.external_tools import require_tool as require  # (not a real requirement: see required_tools)

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y --no-install-recommends no-such-package"):
        require("no-such-tool-here", "no-such-package", "a test")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: a missing tool is a failure"):
        require("no-such-tool-here", "no-such-package", "a test")
    assert require("bash", "bash", "a test").endswith("/bash")
