"""Trading from the command line: ``run_trading`` (the main job), ``flags`` and ``resolve``.

``run_trading`` is what ``tradeguard run`` calls: with no exchange configured it starts
the simulator in-process on a free 127.0.0.1 port, opens a Session on the store, runs
the strategy (the sample grid by default) with a live table, and stops cleanly on
SIGINT/SIGTERM (after SIGKILL the next start recovers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live

from tradeguard.app.endpoint_file import endpoint_path, read_endpoint
from tradeguard.app.runtime import Runtime
from tradeguard.app.service import LocalService, ensure_not_running
from tradeguard.cli.app import app
from tradeguard.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    err_console,
    handle_errors,
    open_configured_store,
    out_console,
    prepare,
    print_json,
)
from tradeguard.cli.live_view import flag_block, previous_shutdown
from tradeguard.cli.live_view import session_view as _view
from tradeguard.config import Config
from tradeguard.domain.ids import FlagId
from tradeguard.errors import ConfigError, ExchangeError, StoreError
from tradeguard.exchange.config import check_exchange_url
from tradeguard.recovery.manager import recover
from tradeguard.session import Session, SessionSettings, flag_resolution
from tradeguard.session.flag_actions import FlagActionResult, carry_out_flag_action, needs_exchange
from tradeguard.session.venue import Venue, default_sim_state_path, open_venue

__all__ = ["flags", "resolve", "run_trading"]

async def run_trading(
    config: Config,
    data_url: str,
    *,
    exchange_url: str | None = None,
    duration_s: float | None = None,
    show: bool = True,
    seed: int = 0,
    settings: SessionSettings | None = None,
    backup_dir: Path | None = None,
    sim_state_path: Path | None = None,
    adopt_account: bool = False,
) -> dict[str, Any]:
    """Run the service (:class:`~tradeguard.app.runtime.Runtime`) with a live table.

    Stops on SIGINT/SIGTERM or after ``duration_s``; returns a summary (also printed
    when ``show``). Fenced or a failed store: raises (the command exits non-zero).
    ``sim_state_path`` keeps the built-in simulator's state across runs.
    """
    runtime = Runtime(
        config, data_url, exchange_url=exchange_url, settings=settings,
        backup_dir=backup_dir, sim_state_path=sim_state_path, seed=seed,
        adopt_account=adopt_account,
        on_http_ready=(lambda url: out_console.print(f"dashboard: [bold]{url}/[/]", soft_wrap=True))
        if show else None,
    )
    async with runtime:
        session = runtime.session
        started = time.monotonic()
        if show:
            out_console.print(_startup_line(session, runtime.where))
            with Live(
                _view(session, started, runtime.health), console=out_console,
                refresh_per_second=4,
            ) as live:
                await runtime.wait(duration_s, refresh=lambda: live.update(
                    _view(session, started, runtime.health)))
        else:
            await runtime.wait(duration_s)
        stop_requested = runtime.stop_requested
        dashboard = runtime.http_url
        await runtime.close()  # before the summary: it counts what the clean stop wrote
        runtime.raise_for_failure()
        summary = _summary(
            session, runtime.where, stopped_by_signal=stop_requested,
            elapsed_s=time.monotonic() - started,
        )
        summary["dashboard"] = None if dashboard is None else f"{dashboard}/"
    if show:
        if not out_console.is_terminal:
            out_console.line()  # off a terminal the live table's last frame ends mid-line
        message = (
            f"stopped cleanly{' by signal' if summary['stopped_by_signal'] else ''}: "
            f"{summary['orders']} orders, {summary['fills']} fills, "
            f"{summary['open_orders']} still open on the exchange, "
            f"{summary['open_flags']} open flag(s), journal seq {summary['last_seq']}"
        )
        out_console.print(message, soft_wrap=True)
    return summary


def _startup_line(session: Session, where: str) -> str:
    rep = session.startup
    if rep is None:
        return f"tradeguard trading on {where}"
    return (
        f"[bold]tradeguard[/] trading on {where}\n"
        f"  recovered: {previous_shutdown(session)}, replayed {rep.replayed_events} events, "
        f"{rep.fills_replayed} missed fills, "
        f"{len(rep.resolved.not_placed)} not placed, {len(rep.recovery_actions)} recovery "
        f"actions, reconcile {'complete' if rep.reconcile.complete else 'INCOMPLETE'}, "
        f"{rep.duration_ms:.0f} ms"
    )


def _summary(
    session: Session, where: str, *, stopped_by_signal: bool, elapsed_s: float
) -> dict[str, Any]:
    state = session.state
    return {
        "exchange": where,
        "stopped_by_signal": stopped_by_signal,
        "elapsed_s": round(elapsed_s, 2),
        "orders": len(state.orders),
        "open_orders": len(state.open_orders()),
        "unresolved": len(state.unresolved_orders()),
        "fills": state.fills_recorded,
        "positions": {s: str(p.size) for s, p in state.positions.items()},
        "open_flags": len(state.open_flags()),
        "last_seq": state.last_seq,
        "startup": session.startup,
        "last_reconcile": session.last_reconcile,
    }


# --- flags and resolve -----------------------------------------------------------------


@app.command("flags")
@handle_errors()
def flags(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    all_flags: Annotated[
        bool, typer.Option("--all", help="Also list flags already resolved.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """List manual-intervention flags (open ones unless --all). Read-only."""
    cfg, url = prepare(config, data_dir, store, json=json)
    with open_configured_store(cfg, url, readonly=True) as st:
        state, _ = recover(st, write=False)
    listed = [f for f in state.flags.values() if all_flags or f.is_open]
    if json:
        print_json({"flags": listed, "open": len(state.open_flags())})
        return
    if not listed:
        out_console.print("no open flags" if not all_flags else "no flags")
        return
    # One block per flag rather than a table: at 80 columns a table cut off the flag id
    # and the actions, which are exactly what `tradeguard resolve` needs.
    for f in listed:
        out_console.print(flag_block(f), soft_wrap=True)


@app.command("resolve")
@handle_errors()
def resolve(
    flag_id: Annotated[str, typer.Argument(help="The flag to resolve (see `tradeguard flags`).")],
    action: Annotated[str, typer.Option("--action", "-a", help="One of the flag's actions.")],
    note: Annotated[str, typer.Option("--note", "-n", help="Why (kept in the journal).")] = "",
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            help="Base URL of a Binance-compatible simulator for actions on the exchange; "
            "default: the [exchange] table, else the built-in simulator's saved state.",
        ),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Resolve a flag with one of its actions: carry the action out, then journal it.

    Actions on the exchange (cancel_on_exchange, adopt, mark_canceled,
    accept_exchange_position) need it reachable; otherwise nothing is resolved. While
    `tradeguard run` holds the store, the running service is asked through its HTTP
    API (token from [http] token_env, default TRADEGUARD_DASHBOARD_TOKEN); otherwise
    this command opens the store as its writer.
    """
    cfg, url = prepare(config, data_dir, store, json=json)
    if exchange_url is not None:  # checked before anything is read or written
        check_exchange_url(exchange_url, name="--exchange-url")
    service_url = _running_service_url(cfg, url, flag_id)
    if service_url is not None:
        if exchange_url is not None and not json:
            err_console.print("--exchange-url is not used: the running service acts on "
                              "its own exchange", soft_wrap=True)
        answer = _resolve_through_service(cfg, service_url, flag_id, action, note)
        flag, steps = answer["flag"], [str(step) for step in answer["steps"]]
    else:
        result = asyncio.run(_resolve(cfg, url, flag_id, action, note, exchange_url))
        flag, steps = result.flag, list(result.steps)
    if json:
        print_json({"ok": True, "flag": flag, "steps": steps})
    else:
        for step in steps:
            out_console.print(step, soft_wrap=True)


def _running_service_url(cfg: Config, url: str, flag_id: str) -> str | None:
    """The API URL of the run holding the store, or None when no run holds it.

    A run that serves no API cannot be asked: refused, naming what to do.
    """
    with open_configured_store(cfg, url, readonly=True) as st:
        try:
            ensure_not_running(st, what=f"resolving flag {flag_id}")
        except StoreError:
            run = st.last_run()
        else:
            return None
    assert run is not None  # a running session has a run marker
    endpoint = read_endpoint(url, pid=run.pid, session_id=cfg.storage.session_id)
    if endpoint is not None:
        return endpoint.url
    http = cfg.http
    if endpoint_path(url) is None and http.enabled and http.port:
        # A store with no data directory (PostgreSQL): the configured address.
        host = f"[{http.host}]" if ":" in http.host else http.host
        return f"http://{host}:{http.port}"
    raise StoreError(
        f"resolving flag {flag_id} refused: the session is running (run {run.run_id}, pid "
        f"{run.pid}) and serves no HTTP API to ask (started with --no-http or [http] "
        "enabled = false); stop it (Ctrl-C or SIGTERM) and run this again, or restart it "
        "with the API"
    )


def _resolve_through_service(
    cfg: Config, service_url: str, flag_id: str, action: str, note: str
) -> dict[str, Any]:
    """Ask the running service at ``service_url`` to resolve the flag (its answer)."""
    from tradeguard.app.api_client import ServiceClient  # urllib.request: only when used

    token_env = cfg.http.token_env
    token = os.environ.get(token_env)
    if not token:
        raise ConfigError(
            f"flag {flag_id}: the session is running and serves its API at {service_url}; "
            f"resolving through it needs its token: export {token_env} with the value the "
            "service was started with; nothing resolved"
        )
    path = f"/api/flags/{urllib.parse.quote(flag_id, safe='')}/resolve"
    answer: dict[str, Any] = ServiceClient(service_url, token).post(
        path, {"action": action, "note": note}
    )
    return answer


async def _resolve(
    cfg: Config, url: str, flag_id: str, action: str, note: str, exchange_url: str | None
) -> FlagActionResult:
    # Check first without taking over the store, so a refused resolve writes nothing.
    with open_configured_store(cfg, url, readonly=True) as st:
        ensure_not_running(st, what=f"resolving flag {flag_id}")
        state, _ = recover(st, write=False)
    flag_resolution(state, flag_id, action, note)
    flag = state.flags[FlagId(flag_id)]
    async with contextlib.AsyncExitStack() as stack:
        gateway = None
        if needs_exchange(flag.kind, action):
            venue = await _resolve_venue(cfg, url, flag_id, action, exchange_url)
            stack.push_async_callback(venue.aclose)
            gateway = venue.gateway
            try:  # reachable before anything is journaled
                await gateway.load_markets()
            except ExchangeError as exc:
                raise ExchangeError(
                    f"flag {flag_id}: {action!r} acts on the exchange, which is not reachable "
                    f"at {venue.where} ({exc}); nothing resolved"
                ) from exc
        service = await LocalService.start(cfg, url, run_kind="resolve")
        try:
            return await carry_out_flag_action(service, gateway, flag_id, action, note, by="cli")
        finally:
            await service.close()
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


async def _resolve_venue(
    cfg: Config, url: str, flag_id: str, action: str, exchange_url: str | None
) -> Venue:
    """The exchange of the session: --exchange-url, the config, or the demo's simulator."""
    keys = os.environ.get(cfg.exchange.api_key_env) and os.environ.get(cfg.exchange.api_secret_env)
    if exchange_url is None and not cfg.exchange.url and not keys:
        # The demo's built-in simulator, as `run` left it; a fresh one knows no orders.
        state_path = default_sim_state_path(url)
        if state_path is None or not state_path.is_file():
            raise ExchangeError(
                f"flag {flag_id}: {action!r} acts on the exchange, but none is configured "
                f"and there is no built-in simulator state at {state_path}; give "
                "--exchange-url or configure [exchange]; nothing resolved"
            )
        return await open_venue(cfg, sim_state_path=state_path)
    return await open_venue(cfg, exchange_url=exchange_url)
