"""The ``tradeguard`` typer application; command modules attach their commands to it."""

from __future__ import annotations

import platform
from typing import Annotated

import typer

from tradeguard import __version__

__all__ = ["app"]

app = typer.Typer(
    name="tradeguard",
    help="Crash-safe order, position and balance manager for trading bots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tradeguard {__version__} (Python {platform.python_version()})")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Crash-safe order, position and balance manager for trading bots."""
