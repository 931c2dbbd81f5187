"""``tradeguard reconcile``: one reconciliation against the exchange, by hand.

Thin shell over ``tradeguard.reconcile``: recover the session, open the gateway, run
once, print the report. Exit code 0 when the run was complete, 1 when anything could
not be checked (flags raised are in the report), 2 on an error.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tradeguard.app.service import LocalService, ensure_store_not_running
from tradeguard.cli.app import app
from tradeguard.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    backup_dir_for,
    handle_errors,
    open_configured_store,
    out_console,
    prepare,
    print_json,
)
from tradeguard.config import Config
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.config import check_exchange_url
from tradeguard.reconcile.policy import ReconcilePolicy
from tradeguard.reconcile.report import ReconcileReport
from tradeguard.reconcile.run import reconcile_once, reconcile_state
from tradeguard.recovery.manager import recover
from tradeguard.session.account import account_of, bind_account, plan_binding

__all__ = ["reconcile"]

ExchangeUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--exchange-url",
        help="Base URL of a Binance-compatible simulator (key 'demo', secret 'demo'); "
        "default: the [exchange] table of the config, with keys from the environment.",
    ),
]
_PURPOSE = "reconciliation (`--dry-run` works beside a running session)"

AdoptAccountOpt = Annotated[
    bool,
    typer.Option(
        "--adopt-account",
        help="The exchange account differs from the one this store is bound to, on "
        "purpose (a new API key, a moved session): bind the session to it (journaled).",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Only report: journal nothing, change nothing.")
]


@app.command("reconcile")
@handle_errors()
def reconcile(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    exchange_url: ExchangeUrlOpt = None,
    dry_run: DryRunOpt = False,
    adopt_account: AdoptAccountOpt = False,
    json: JsonOpt = False,
) -> None:
    """Reconcile the session with the exchange once and print the report.

    Recovers the session first. Corrections are journaled with their cause and flags
    raised for what cannot be explained; with --dry-run nothing is written. Exits 1
    when the run is incomplete (some fetch failed: nothing is claimed about it).
    """
    if exchange_url is not None:  # checked before anything is read or written
        check_exchange_url(exchange_url, name="--exchange-url")
    cfg, url = prepare(config, data_dir, store, json=json)
    backup_dir = backup_dir_for(cfg, url, data_dir)
    report = asyncio.run(_reconcile(cfg, url, exchange_url, backup_dir, dry_run=dry_run,
                                    adopt_account=adopt_account))
    if json:
        print_json(report)
    else:
        _print_summary(report)
    if not report.complete:
        raise typer.Exit(1)


def _gateway(cfg: Config, exchange_url: str | None) -> CcxtGateway:
    if exchange_url:
        return CcxtGateway(
            "binance",
            api_key="demo",
            secret="demo",  # noqa: S106 - the simulator's documented demo secret
            url_override=exchange_url,
            markets=cfg.exchange.markets,
            timeout_ms=cfg.exchange.timeout_ms,
            page_limit=cfg.exchange.page_limit,
        )
    return CcxtGateway.from_config(cfg.exchange)


async def _reconcile(
    cfg: Config,
    url: str,
    exchange_url: str | None,
    backup_dir: Path,
    *,
    dry_run: bool,
    adopt_account: bool,
) -> ReconcileReport:
    policy = ReconcilePolicy.from_settings(cfg.reconcile)
    if not dry_run:  # refuse before the exchange is even asked
        await asyncio.to_thread(
            ensure_store_not_running, url, session_id=cfg.storage.session_id, what=_PURPOSE
        )
    async with _gateway(cfg, exchange_url) as gateway:
        if dry_run:
            # Read-only: the state as recovery would restore it, nothing written.
            with open_configured_store(cfg, url, readonly=True) as store:
                state, _ = await asyncio.to_thread(recover, store, write=False)
            if (account := account_of(gateway)) is not None:
                plan_binding(state, account, adopt=adopt_account)  # refuses, writes nothing
            return await reconcile_state(state, gateway, policy, append=None)
        service = await LocalService.start(
            cfg, url, backup_dir=backup_dir, purpose=_PURPOSE, run_kind="reconcile"
        )
        try:
            await bind_account(service, gateway, adopt=adopt_account)
            return await reconcile_once(service, gateway, policy)
        finally:
            await service.close()


_URL_PATH = re.compile(r"(https?://[^/\s)]+)[^\s)]*")


def _failure_causes(report: ReconcileReport, limit: int = 3) -> list[str]:
    """The distinct causes of the failed fetches, one line each (an unreachable
    exchange fails every fetch for the same reason: it is named once)."""
    by_cause: dict[str, str] = {}
    for failure in report.failures:
        # "binance fetch_balance: exchange unavailable (...)": the same cause behind
        # different calls has the same text after the call's name.
        # Concurrent requests fail on different paths of the same base URL, in any order.
        _, _, cause = failure.error.partition(": ")
        by_cause.setdefault(_URL_PATH.sub(r"\1", cause or failure.error), failure.error)
    causes = list(by_cause.values())
    if len(causes) > limit:
        causes = [*causes[:limit], f"... and {len(causes) - limit} more (see --json)"]
    return causes


def _print_summary(report: ReconcileReport) -> None:
    verdict = "[green]complete[/]" if report.complete else "[bold red]INCOMPLETE[/]"
    mode = " (dry run: nothing journaled)" if report.dry_run else ""
    found = ", ".join(f"{n} {kind}" for kind, n in sorted(report.found.items())) or "nothing"
    out_console.print(
        f"reconcile {verdict}{mode} in {report.duration_ms:.0f} ms: "
        f"{len(report.symbols)} symbols, found {found}; "
        f"{report.events_planned} corrective events"
        + (f" (seq {report.first_seq}-{report.last_seq})" if report.first_seq else "")
    )
    for cause in _failure_causes(report):
        out_console.print(f"  [bold red]cause:[/] {escape(cause)}", soft_wrap=True)
    for item in report.discrepancies:
        subject = getattr(item, "client_order_id", None) or getattr(item, "account", "")
        out_console.print(
            f"  {type(item).__struct_config__.tag}: {item.symbol or '-'} {subject} -> {item.action}"
        )
    for fid in report.flags_raised:
        out_console.print(f"  [red]flag raised[/] {fid}")
    for missed in report.unchecked:
        out_console.print(
            f"  [yellow]not checked[/] {missed.what} {missed.symbol or ''}: {missed.reason}"
        )
