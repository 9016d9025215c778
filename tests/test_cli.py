"""Every command has --help, takes --config, and is documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_config_and_docs(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    command = main.commands[name]
    if not isinstance(command, type(main)):  # groups document their subcommands
        assert "--config" in result.output
    assert f"connector {name}" in README, f"README does not document `connector {name}`"


def test_bad_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[target]\nkind = "fedex"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: configuration: target.kind")
    assert len(result.output.strip().splitlines()) == 1


def test_status_failures_replay_on_a_fresh_database(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[shopify]\napi_secret = "s"\n[database]\npath = "{tmp_path / "c.db"}"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["worker", "--once", "--config", str(config)]).exit_code == 0  # creates it
    status = runner.invoke(main, ["status", "--config", str(config)])
    assert status.exit_code == 0 and "orders: none yet" in status.output
    assert "(none)" in runner.invoke(main, ["failures", "--config", str(config)]).output
    assert runner.invoke(main, ["replay", "--config", str(config)]).exit_code == 2  # says what to replay
    assert "replayed 0 orders" in runner.invoke(main, ["replay", "--all", "--config", str(config)]).output
