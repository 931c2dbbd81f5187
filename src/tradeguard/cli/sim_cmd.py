"""``tradeguard sim``: run the Binance-compatible exchange simulator until stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal, InvalidOperation

import typer

from tradeguard.cli.app import app
from tradeguard.cli.common import handle_errors

__all__ = ["sim_command"]


async def _serve(config: object) -> None:
    from tradeguard.sim import SimulatorConfig, start_simulator

    if not isinstance(config, SimulatorConfig):
        raise TypeError("config must be a SimulatorConfig")
    handle = await start_simulator(config)
    # Scripts and tests read this line to find the port: it must come first, flushed.
    sys.stdout.write(f"listening on {handle.url}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await handle.stop()


@app.command("sim")
@handle_errors()
def sim_command(
    *,
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(0, help="TCP port; 0 picks a free one."),
    seed: int = typer.Option(0, help="Seed of the mark prices' random walk."),
    volatility: str = typer.Option("0.0005", help="Relative size of one price step."),
    tick_interval_ms: int = typer.Option(200, help="Price step period in ms; 0 = off."),
    api_key: str = typer.Option("demo", help="API key the simulator accepts."),
    api_secret_env: str = typer.Option(
        "", help="Environment variable holding the API secret (default secret: demo)."
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
    a restart continues the same exchange; a corrupt state file is an error (exit 2).
    """
    from tradeguard.sim import SimulatorConfig

    secret = "demo"  # noqa: S105 - the documented demo secret
    if api_secret_env:
        value = os.environ.get(api_secret_env)
        if not value:
            typer.echo(f"error: environment variable {api_secret_env} is not set", err=True)
            raise typer.Exit(2)
        secret = value
    try:
        vol = Decimal(volatility)
    except InvalidOperation:
        typer.echo(f"error: --volatility {volatility!r} is not a number", err=True)
        raise typer.Exit(2) from None
    config = SimulatorConfig(
        host=host, port=port, seed=seed, volatility=vol, api_key=api_key,
        api_secret=secret, tick_interval_ms=tick_interval_ms,
        rate_limit_per_s=rate_limit_per_s, state_path=state_file,
    )
    asyncio.run(_serve(config))
