"""``tradeguard run`` (the trading service) and ``tradeguard journal-demo``.

``run`` recovers, reconciles and trades through a Session (see ``trade_cmd``);
``journal-demo`` exercises only the durable core: a synthetic order flow journaled by
concurrent writers, then the state is recovered from disk and compared with the live one.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.live import Live
from rich.table import Table

from tradeguard.app.journal_demo import DemoFlow
from tradeguard.app.service import LocalService
from tradeguard.cli.app import app
from tradeguard.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    backup_dir_for,
    check_data_dir,
    check_store_before_writing,
    err_console,
    handle_errors,
    open_configured_store,
    out_console,
    print_json,
    resolve,
    setup_cli_logging,
    store_data_dir,
)
from tradeguard.config import Config
from tradeguard.exchange.config import check_exchange_url
from tradeguard.logs import configure_logging
from tradeguard.recovery.manager import RecoveryProgress, recover
from tradeguard.recovery.verify import verify_store
from tradeguard.web.config import parse_host_port

__all__ = ["journal_demo", "run"]


@app.command("run")
@handle_errors()
def run(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            help="A running simulator (key demo, secret demo). Default: the exchange in "
            "--config, else the built-in simulator on a free 127.0.0.1 port.",
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the built-in simulator.")] = 0,
    adopt_account: Annotated[
        bool,
        typer.Option(
            "--adopt-account",
            help="The exchange account differs from the one this store is bound to, on "
            "purpose (a new API key, a moved session): bind the session to it (journaled).",
        ),
    ] = False,
    http: Annotated[
        str | None,
        typer.Option(
            "--http", metavar="HOST:PORT",
            help="Serve the dashboard, API and /metrics here (default: [http] in the "
            "config, else 127.0.0.1:8765; port 0 takes a free one).",
        ),
    ] = None,
    no_http: Annotated[
        bool, typer.Option("--no-http", help="Serve no dashboard, API or /metrics.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """The service: recover, reconcile, then trade with the strategy until stopped.

    SIGINT and SIGTERM stop it cleanly; after SIGKILL the next start recovers, resolves
    orders whose outcome was lost, and replays missed fills.
    """
    from tradeguard.cli.trade_cmd import run_trading

    if exchange_url is not None:  # checked before anything is read or written
        check_exchange_url(exchange_url, name="--exchange-url")
    cfg, url = resolve(config, data_dir, store)
    cfg = _with_http(cfg, http, no_http)
    # Stderr only until the checks pass: the read-only recovery below logs, and an
    # unconfigured structlog would print that on stdout (which --json keeps for scripts).
    setup_cli_logging(cfg, quiet=json)
    # Check the data dir and the store before anything (logs, simulator state) is written.
    check_data_dir(data_dir if data_dir is not None else _log_dir(url, data_dir))
    check_store_before_writing(cfg, url)
    configure_logging(level=cfg.log.level, fmt=cfg.log.format,
                      log_file=_log_dir(url, data_dir) / "logs" / "tradeguard.log",
                      stream_level="critical" if json else "warning",
                      max_file_bytes=cfg.log.max_file_bytes, files_to_keep=cfg.log.files_to_keep,
                      secret_env_names=(cfg.exchange.api_key_env, cfg.exchange.api_secret_env))
    summary = asyncio.run(run_trading(
        cfg, url, exchange_url=exchange_url, duration_s=duration, show=not json, seed=seed,
        backup_dir=backup_dir_for(cfg, url, data_dir),
        # The built-in simulator lives next to the store, so a restart finds the same
        # exchange with the orders the journal knows.
        sim_state_path=_log_dir(url, data_dir) / "simulator-state.json",
        adopt_account=adopt_account))
    if json:
        print_json(summary)


def _with_http(cfg: Config, http: str | None, no_http: bool) -> Config:
    """``--http`` / ``--no-http`` over the config's ``[http]``."""
    if http is not None and no_http:
        raise typer.BadParameter("--http and --no-http exclude each other", param_hint="--http")
    if no_http:
        return msgspec.structs.replace(
            cfg, http=msgspec.structs.replace(cfg.http, enabled=False))
    if http is None:
        return cfg
    try:
        host, port = parse_host_port(http)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--http") from exc
    return msgspec.structs.replace(
        cfg, http=msgspec.structs.replace(cfg.http, enabled=True, host=host, port=port))


def _log_dir(url: str, data_dir: Path | None) -> Path:
    # resolve() made the URL absolute from --data-dir or the config: one directory.
    del data_dir
    return store_data_dir(url)


@app.command("journal-demo")
@handle_errors()
def journal_demo(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    events: Annotated[
        int, typer.Option("--events", help="Stop after this many events (0: until Ctrl-C).")
    ] = 20_000,
    traders: Annotated[int, typer.Option("--traders", help="Concurrent demo traders.")] = 16,
    rate: Annotated[
        float, typer.Option("--rate", help="Target events/s (0: as fast as the disk allows).")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo order flow.")] = 0,
    accept_loss: Annotated[
        bool, typer.Option("--accept-loss", help="See `tradeguard recover --help`.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Exercise the durable core alone: journal a synthetic order flow, then prove it.

    SIGINT and SIGTERM stop it cleanly; after SIGKILL the next start recovers. At the end
    the store is recovered again from disk and compared with the live state.
    """
    cfg, url = resolve(config, data_dir, store)
    check_data_dir(data_dir if data_dir is not None else _log_dir(url, data_dir))
    configure_logging(level=cfg.log.level, fmt=cfg.log.format,
                      log_file=_log_dir(url, data_dir) / "logs" / "tradeguard.log",
                      stream_level="critical" if json else "warning",
                      max_file_bytes=cfg.log.max_file_bytes, files_to_keep=cfg.log.files_to_keep,
                      secret_env_names=(cfg.exchange.api_key_env, cfg.exchange.api_secret_env))
    backup_dir = backup_dir_for(cfg, url, data_dir)
    summary = asyncio.run(_run(cfg, url, backup_dir, events=events or None, traders=traders,
                               rate=rate or None, seed=seed, accept_loss=accept_loss,
                               show=not json))
    if json:
        print_json(summary)
    if not summary["recovered_state_matches"] or not summary["verify_ok"]:
        raise typer.Exit(1)


async def _run(
    cfg: Config,
    url: str,
    backup_dir: Path,
    *,
    events: int | None,
    traders: int,
    rate: float | None,
    seed: int,
    accept_loss: bool,
    show: bool,
) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def on_recovery(p: RecoveryProgress) -> None:
        if show and p.phase == "replay" and p.total:
            err_console.print(f"  replaying journal: {p.done:,}/{p.total:,}", end="\r")

    service = await LocalService.start(
        cfg, url, backup_dir=backup_dir, accept_loss=accept_loss, progress=on_recovery)
    rec = service.recovery
    if show:
        out_console.print(
            f"[bold]tradeguard[/] session '{cfg.storage.session_id}' at {url}\n"
            f"  recovered: previous shutdown "
            f"{_shutdown_word(rec.unclean_shutdown, rec.previous_run is not None)}"
            f", snapshot {rec.snapshot_seq}, replayed {rec.replayed_events:,} events, "
            f"quarantined {rec.quarantined_records}, {rec.duration_ms:.0f} ms"
        )
    flow = DemoFlow(service, seed=seed + rec.last_seq, traders=traders)
    started = time.perf_counter()
    try:
        if show:
            with Live(_table(service, flow, started), console=out_console,
                      refresh_per_second=8, transient=False) as live:
                await flow.run(max_events=events, stop=stop, rate_per_s=rate,
                               on_progress=lambda: live.update(_table(service, flow, started)))
                live.update(_table(service, flow, started))
        else:
            await flow.run(max_events=events, stop=stop, rate_per_s=rate)
    finally:
        await service.close()
    live_state = service.state
    elapsed = time.perf_counter() - started
    # Prove durability: rebuild the state from disk alone and compare with the live one.
    with open_configured_store(cfg, url, readonly=True) as st:
        restored, report = recover(st, write=False)
        verified = verify_store(st)
    matches = restored == live_state
    summary: dict[str, Any] = {
        "stopped_by_signal": stop.is_set(),
        "events_written": flow.events_written,
        "orders_placed": flow.orders_placed,
        "fills": flow.fills,
        "events_per_s": round(flow.events_written / elapsed, 1) if elapsed else None,
        "last_seq": live_state.last_seq,
        "snapshots_taken": service.journal.stats().snapshots_taken,
        "backups_taken": service.backups_taken,
        "startup_recovery": rec,
        "recovery_after_stop": report,
        "recovered_state_matches": matches,
        "verify_ok": verified.ok,
    }
    if show:
        out_console.print(
            f"\nstopped {'by signal' if stop.is_set() else 'at the event limit'} cleanly; "
            f"{flow.events_written:,} events in {elapsed:.1f} s\n"
            f"recovery from disk: snapshot {report.snapshot_seq}, replayed "
            f"{report.replayed_events:,} events in {report.duration_ms:.1f} ms; state equals the "
            f"live state: {'[green]yes[/]' if matches else '[bold red]NO[/]'}; verify: "
            f"{'[green]ok[/]' if verified.ok else '[bold red]NOT OK[/]'}\n"
            f"try: tradeguard status --data-dir '{store_data_dir(url)}'  |  "
            f"tradeguard journal --data-dir '{store_data_dir(url)}' --limit 10"
        )
    return summary


def _shutdown_word(unclean: bool, had_previous: bool) -> str:
    if unclean:
        return "[red]UNCLEAN[/]"
    return "clean" if had_previous else "none (new store)"


def _table(service: LocalService, flow: DemoFlow, started: float) -> Table:
    state = service.state
    stats = service.journal.stats()
    elapsed = max(time.perf_counter() - started, 1e-9)
    table = Table(title="tradeguard demo session (Ctrl-C stops cleanly)", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("journal seq (durable)", f"{stats.committed_seq:,}"),
        ("events written / s", f"{flow.events_written:,} / {flow.events_written / elapsed:,.0f}"),
        ("orders placed", f"{flow.orders_placed:,}"),
        ("open orders", f"{len(state.open_orders()):,}"),
        ("unresolved (UNKNOWN)", f"{len(state.unresolved_orders()):,}"),
        ("fills", f"{flow.fills:,}"),
        ("snapshots taken (last seq)", f"{stats.snapshots_taken} ({stats.last_snapshot_seq})"),
        ("backups taken", f"{service.backups_taken}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    for symbol, pos in sorted(state.positions.items()):
        table.add_row(f"position {symbol}", f"{pos.size} @ {pos.entry_price:.1f}")
    return table
