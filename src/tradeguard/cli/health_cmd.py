"""``tradeguard health``: one round of health checks against the store (and exchange).

Thin shell over ``tradeguard.health``: open the store read-only, run one round, print
the checks. Exit 0 when every check is ok, 1 when any is warn or critical, 2 on an
error (no store, bad config).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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
from tradeguard.exchange.config import check_exchange_url
from tradeguard.exchange.gateway import ExchangeGateway
from tradeguard.health.monitor import HealthReport, store_round
from tradeguard.storage.url import sqlite_data_dir

__all__ = ["health"]

ExchangeUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--exchange-url",
        help="Also check this Binance-compatible exchange (e.g. the simulator): "
        "reachability, round trip, clock skew. Default: exchange.url of the config, "
        "if set; otherwise the exchange is not checked.",
    ),
]
PidOpt = Annotated[
    int | None,
    typer.Option(
        "--pid",
        help="Watch this process's vitals (default: the session's running process on "
        "this host; none running: vitals are left out).",
    ),
]

_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red"}


@app.command("health")
@handle_errors()
def health(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    exchange_url: ExchangeUrlOpt = None,
    pid: PidOpt = None,
    json: JsonOpt = False,
) -> None:
    """One round of health checks (read-only); exit 1 when any check is warn or critical."""
    if exchange_url is not None:  # checked before anything is read
        check_exchange_url(exchange_url, name="--exchange-url")
    cfg, url = prepare(config, data_dir, store, json=json)
    report = asyncio.run(_round(cfg, url, data_dir, exchange_url or cfg.exchange.url, pid))
    if json:
        print_json({"status": report.status, "checks": report.checks})
    else:
        _print_table(report)
    if report.status != "ok":
        raise typer.Exit(1)


def _gateway(cfg: Config, exchange_url: str) -> ExchangeGateway:
    from tradeguard.exchange.ccxt_gateway import CcxtGateway

    return CcxtGateway(
        cfg.exchange.id,
        api_key="demo",
        secret="demo",  # noqa: S106 - only the public server time is asked
        url_override=exchange_url,
        markets=cfg.exchange.markets,
        timeout_ms=cfg.exchange.timeout_ms,
        page_limit=cfg.exchange.page_limit,
    )


async def _round(
    cfg: Config, url: str, data_dir: Path | None, exchange_url: str, pid: int | None
) -> HealthReport:
    backup_dir = backup_dir_for(cfg, url, data_dir)
    with open_configured_store(cfg, url, readonly=True) as st:
        if not exchange_url:
            return await store_round(
                st, data_dir=sqlite_data_dir(url), backup_dir=backup_dir,
                thresholds=cfg.health, pid=pid,
            )
        async with _gateway(cfg, exchange_url) as gateway:
            return await store_round(
                st, data_dir=sqlite_data_dir(url), backup_dir=backup_dir,
                thresholds=cfg.health, pid=pid, gateway=gateway,
            )


def _print_table(report: HealthReport) -> None:
    table = Table(title=f"health: {report.status}", width=80, show_lines=False)
    table.add_column("check", no_wrap=True, max_width=26)
    table.add_column("status", no_wrap=True, width=8)
    table.add_column("value", justify="right", max_width=12)
    table.add_column("detail", ratio=1)
    for check in report.checks:
        value = check.value
        shown = "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        table.add_row(  # Text: a detail is never read as rich markup
            Text(check.name),
            Text(check.status, style=_STYLE[check.status]),
            Text(shown),
            Text(check.detail),
        )
    out_console.print(table)
