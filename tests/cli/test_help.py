"""Every command has help text and answers --help (as sqlite-utils insists)."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from tradeguard.cli.main import app

COMMAND = get_command(app)
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]


def test_expected_commands_exist() -> None:
    for name in ("run", "recover", "verify", "journal", "status", "backup", "restore", "sim"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_command_has_help(name: str) -> None:
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{name} has no help text"
    assert len(command.help.strip()) > 10, f"{name} has too little help text"
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    for param in command.params:
        if param.name != "help" and getattr(param, "help", None) is None and \
                param.param_type_name == "option":
            pytest.fail(f"option {param.name} of {name} has no help text")


def test_root_help_offers_version() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "--version" in result.output
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.output.startswith("tradeguard ")
