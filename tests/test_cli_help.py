"""Every command has help text with a one-line summary and an example."""

import click
import pytest
from click.testing import CliRunner

from sqsync.cli import cli


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _all_commands(command, path)


def test_root_help_lists_itself():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Connect Squarespace stores to a warehouse." in result.output


@pytest.mark.parametrize("path", [p for p, _ in _all_commands(cli)], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    command = cli
    for name in path:
        command = command.commands[name]
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    assert command.get_short_help_str().strip(), f"{' '.join(path)} has no summary"
    assert "Example" in command.help, f"{' '.join(path)} --help shows no example"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "sqsync" in result.output
