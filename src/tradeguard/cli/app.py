"""The ``tradeguard`` typer application; command modules attach their commands to it."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="tradeguard",
    help="Crash-safe order, position and balance manager for trading bots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
