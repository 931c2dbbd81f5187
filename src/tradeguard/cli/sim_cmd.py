"""``tradeguard sim``: run the Binance-compatible exchange simulator until stopped."""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal, InvalidOperation

import typer

from tradeguard.cli.app import app
from tradeguard.cli.common import handle_errors

__all__ = ["sim_command"]


def _announce(url: str) -> None:
    # Scripts and tests read this line to find the port: it must come first, flushed.
    sys.stdout.write(f"listening on {url}\n")
    sys.stdout.flush()


def _from_env(name: str, option: str, default: str) -> str:
    """The value of environment variable ``name`` (``default`` when no name is given)."""
    if not name:
        return default
    value = os.environ.get(name)
    if not value:
        typer.echo(f"error: environment variable {name} (from {option}) is not set", err=True)
        raise typer.Exit(2)
    return value


@app.command("sim")
@handle_errors()
def sim_command(
    *,
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(0, help="TCP port; 0 picks a free one."),
    seed: int = typer.Option(0, help="Seed of the mark prices' random walk."),
    volatility: str = typer.Option("0.0005", help="Relative size of one price step."),
    tick_interval_ms: int = typer.Option(200, help="Price step period in ms; 0 = off."),
    api_key_env: str = typer.Option(
        "", help="Environment variable holding the API key it accepts (default key: demo)."
    ),
    api_secret_env: str = typer.Option(
        "", help="Environment variable holding the API secret (default secret: demo)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", hidden=True,
        help="Refused: a key on the command line shows in `ps`; use --api-key-env.",
    ),
    rate_limit_per_s: int = typer.Option(0, help="Requests/s before HTTP 429; 0 = off."),
    state_file: str = typer.Option(
        "", "--state-file",
        help="Keep the exchange's state (orders, balances, positions, prices) in this file "
        "across restarts; saved atomically before every answer that changed it. "
        "Default: none (a fresh exchange each start).",
    ),
) -> None:
    """Run the Binance-compatible exchange simulator (spot and USD-M) until SIGINT/TERM.

    Prints ``listening on http://HOST:PORT`` as its first line. With ``--state-file``
    a restart continues the same exchange; a corrupt state file is an error (exit 2), and
    so is a host:port it cannot listen on. The API key and secret come from environment
    variables (``--api-key-env``, ``--api-secret-env``), never from the command line.
    """
    from tradeguard.sim import SimulatorConfig
    from tradeguard.sim.runner import serve_until_signal

    if api_key is not None:
        typer.echo(
            "error: --api-key is no longer accepted (the key would show in `ps` output); "
            "put the key in an environment variable and pass --api-key-env NAME",
            err=True,
        )
        raise typer.Exit(2)
    key = _from_env(api_key_env, "--api-key-env", "demo")
    secret = _from_env(api_secret_env, "--api-secret-env", "demo")
    try:
        vol = Decimal(volatility)
    except InvalidOperation:
        typer.echo(f"error: --volatility {volatility!r} is not a number", err=True)
        raise typer.Exit(2) from None
    config = SimulatorConfig(
        host=host, port=port, seed=seed, volatility=vol, api_key=key,
        api_secret=secret, tick_interval_ms=tick_interval_ms,
        rate_limit_per_s=rate_limit_per_s, state_path=state_file,
    )
    asyncio.run(serve_until_signal(config, _announce))
