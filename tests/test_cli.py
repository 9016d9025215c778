"""Every command has --help, takes --config, and is documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands(group=main, path=()):  # type: ignore[no-untyped-def]
    """Every command, subcommands of groups included, as ("db", "backup")."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, type(main)):
            yield from _commands(command, (*path, name))


def _command(path):  # type: ignore[no-untyped-def]
    command = main
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", list(_commands()), ids=" ".join)
def test_every_command_and_subcommand_reads_like_documentation(path):
    """`--help` works, says what the command does, every option says what it is for, and the
    README's Commands table names it."""
    import click

    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    command = _command(path)
    assert command.help and len(command.help.split()) >= 6, f"{path}: --help says too little"
    if not isinstance(command, type(main)):
        if path != ("shops", "new-key"):  # the one command that reads no configuration
            assert "--config" in result.output
        undocumented = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help]
        assert undocumented == [], f"{' '.join(path)}: options without help: {undocumented}"
    assert f"connector {' '.join(path)}" in README, f"README does not document `connector {' '.join(path)}`"


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
