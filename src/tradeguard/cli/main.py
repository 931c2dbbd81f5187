"""Entry point of the ``tradeguard`` command: imports every command module."""

from __future__ import annotations

from tradeguard.cli import (  # noqa: F401 - registers commands
    alert_cmd,
    chaos_cmd,
    health_cmd,
    reconcile_cmd,
    run_cmd,
    sim_cmd,
    store_cmds,
    trade_cmd,
)
from tradeguard.cli.app import app

__all__ = ["main"]


def main() -> None:
    """Run the tradeguard CLI."""
    app()
