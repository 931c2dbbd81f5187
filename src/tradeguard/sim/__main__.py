"""``python -m tradeguard.sim``: the ``tradeguard sim`` command without the rest of the CLI."""

from __future__ import annotations

import typer

from tradeguard.cli.sim_cmd import sim_command

if __name__ == "__main__":
    typer.run(sim_command)
