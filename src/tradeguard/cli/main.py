"""Entry point of the ``tradeguard`` command: imports every command module."""

from __future__ import annotations

from tradeguard.cli.app import app

__all__ = ["main"]


def main() -> None:
    """Run the tradeguard CLI."""
    app()
