"""The live table of ``tradeguard run``: the session, the exchange and the open orders.

Built for an 80-column terminal: what a person must read or type next (client order
ids, flag ids) is never cut off (those columns do not wrap or shrink); prices and
amounts are rounded to the market's tick and lot size. An exchange that stopped
answering is shown as such, with since when and the last error, not only as an
incomplete reconciliation. The health row is the worst check status and the names of
the checks that are not ok, on one line.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tradeguard.app.service import LocalService
from tradeguard.app.status import FlagLine, StatusReport, last_trading_run
from tradeguard.cli.common import format_decimal
from tradeguard.domain.flags import Flag
from tradeguard.domain.orders import Order
from tradeguard.session import Session
from tradeguard.session.exchange_status import ExchangeHealth

if TYPE_CHECKING:
    from tradeguard.health.monitor import HealthReport

__all__ = [
    "MAX_ORDER_ROWS",
    "describe_exchange",
    "flag_block",
    "health_line",
    "orders_table",
    "previous_shutdown",
    "session_view",
    "status_flag_lines",
    "status_tables",
]

MAX_ORDER_ROWS = 20

HEALTH_LINE_WIDTH = 56
"""Room for the health row's value beside the widest label in 80 columns."""

_HEALTH_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red"}


def _utc_time(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_exchange(health: ExchangeHealth, now_ns: int | None = None) -> Text:
    """One line: the exchange answers, or "exchange unreachable since ..." and why."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    if health.reachable is None:
        return Text("not contacted yet")
    if health.reachable:
        age = "" if health.last_answer_ns is None else \
            f", last answer {max(now_ns - health.last_answer_ns, 0) / 1e9:.0f} s ago"
        return Text(f"ok{age}", style="green")
    since = health.unreachable_since_ns or now_ns
    return Text(
        f"exchange unreachable since {_utc_time(since)} "
        f"({max(now_ns - since, 0) / 1e9:.0f} s, {health.consecutive_failures} failed "
        f"calls); last error: {health.last_error}",
        style="bold red",
    )


def health_line(report: HealthReport | None, width: int = HEALTH_LINE_WIDTH) -> Text:
    """The worst status and the not-ok checks (critical first), cut to ``width`` with
    "+N more" rather than wrapped: ``warn: backup_age_seconds, open_flags``."""
    if report is None:
        return Text("not checked yet")
    bad = sorted((c for c in report.checks if c.status != "ok"),
                 key=lambda c: c.status != "critical")
    if not bad:
        return Text("ok", style="green")
    line = f"{report.status}:"
    for index, check in enumerate(bad):
        more = len(bad) - index - 1
        tail = f" +{more} more" if more else ""
        piece = f" {check.name}" if index == 0 else f", {check.name}"
        if len(line) + len(piece) + len(tail) > width:
            line += f" +{len(bad) - index} more"
            break
        line += piece
    return Text(line, style=_HEALTH_STYLE[report.status])


def _steps(session: Session, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    market = session.markets.get(symbol)
    return (None, None) if market is None else (market.tick_size, market.step_size)


def orders_table(session: Session, orders: list[Order]) -> Table:
    """Open orders, newest price first; client ids in full."""
    table = Table(title="open orders", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("client id", no_wrap=True)
    table.add_column("symbol", overflow="fold")
    table.add_column("side", no_wrap=True)
    table.add_column("price", justify="right", overflow="fold")
    table.add_column("filled / amount", justify="right", overflow="fold")
    table.add_column("status", overflow="fold")
    for o in orders[:MAX_ORDER_ROWS]:
        tick, step = _steps(session, o.symbol)
        table.add_row(
            o.client_order_id,
            o.symbol,
            o.side.value,
            format_decimal(o.price, tick),
            f"{format_decimal(o.filled, step)} / {format_decimal(o.amount, step)}",
            o.status.value,
        )
    if len(orders) > MAX_ORDER_ROWS:
        table.caption = f"{len(orders) - MAX_ORDER_ROWS} more: tradeguard status"
    return table


def session_view(
    session: Session, started: float, health: HealthReport | None = None
) -> Group:
    """The whole live view: a summary table (with ``health``, the runtime's latest
    health report), then the open orders."""
    state = session.state
    head = Table(title="tradeguard session (Ctrl-C stops cleanly)", show_header=False,
                 box=box.SIMPLE, pad_edge=False)
    head.add_column("what", style="bold", no_wrap=True)
    head.add_column("value", overflow="fold")
    service = session.service
    # Durable seq from the app's service; any other journal port shows the applied seq.
    seq = (service.journal.stats().committed_seq if isinstance(service, LocalService)
           else state.last_seq)
    head.add_row("journal seq", f"{seq:,}")
    head.add_row("running", f"{time.monotonic() - started:.0f} s, {session.ticks} ticks")
    head.add_row("exchange", describe_exchange(session.exchange_status.health()))
    head.add_row("health", health_line(health))
    if state.paused is not None:
        pause = state.paused
        why = f" ({pause.note})" if pause.note else ""
        head.add_row("new orders", f"[bold yellow]PAUSED[/] by {escape(pause.by)}{escape(why)}")
    rec = session.last_reconcile
    if rec is None:
        reconcile = "not run yet"
    else:
        age_s = (time.time_ns() - rec.at_ns) / 1e9
        reconcile = (
            f"{'ok' if rec.complete else 'INCOMPLETE'}, {rec.discrepancies} discrepancies, "
            f"{rec.flags_raised} flags raised, {age_s:.0f} s ago"
            + (f"; {rec.error}" if rec.error and not rec.complete else "")
        )
    head.add_row("reconcile", reconcile)
    head.add_row("unresolved (UNKNOWN)", str(len(state.unresolved_orders())))
    head.add_row("fills", str(state.fills_recorded))
    open_flags = state.open_flags()
    # One flag id per line: ids are what `tradeguard resolve` needs, so never wrapped.
    head.add_row("open flags", "\n".join(f.flag_id for f in open_flags) or "none")
    for symbol, pos in sorted(state.positions.items()):
        tick, step = _steps(session, symbol)
        head.add_row(f"position {symbol}",
                     f"{format_decimal(pos.size, step)} @ {format_decimal(pos.entry_price, tick)}")
    for asset, bal in sorted(state.balances.items()):
        head.add_row(f"balance {asset}",
                     f"{format_decimal(bal.free)} free, {format_decimal(bal.used)} used")
    orders = sorted(session.open_orders(), key=lambda o: o.price or 0, reverse=True)
    return Group(head, orders_table(session, orders))


def flag_block(flag: Flag) -> Text:
    """A flag as lines that never cut its id or actions, with the command to resolve it."""
    text = Text()
    text.append(f"flag {flag.flag_id}", style="bold red" if flag.is_open else "bold")
    text.append(f"  {flag.severity.value} {flag.kind} on {flag.symbol or '(all symbols)'}, "
                f"{flag.status.value}\n")
    text.append(f"  {flag.message}\n")
    if flag.is_open:
        text.append("  resolve with one of:\n")
        for action in flag.actions:
            text.append(f"    tradeguard resolve {flag.flag_id} --action {action}\n")
    else:
        text.append(f"  actions were: {', '.join(flag.actions)}\n")
    return text


def status_tables(report: StatusReport) -> Group:
    """``tradeguard status``'s tables: ids and symbols in full; prices and amounts
    rounded to the precision the journal's own orders use on that symbol (the store
    does not hold the exchange's tick sizes); balances without trailing zeros."""

    def steps(symbol: str) -> tuple[Decimal | None, Decimal | None]:
        found = report.precision.get(symbol)
        return (None, None) if found is None else (found.price_step, found.amount_step)

    parts: list[Table] = []
    if report.open_orders:
        table = Table(title="open orders", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("client id / exchange id", no_wrap=True)
        table.add_column("symbol", no_wrap=True)
        table.add_column("side", no_wrap=True)
        table.add_column("price", justify="right", overflow="fold")
        table.add_column("filled / amount", justify="right", overflow="fold")
        table.add_column("status", overflow="fold")
        for o in report.open_orders:
            tick, step = steps(o.symbol)
            table.add_row(f"{o.client_order_id}\n{o.exchange_order_id or '-'}", o.symbol,
                          o.side, format_decimal(o.price, tick),
                          f"{format_decimal(o.filled, step)} / {format_decimal(o.amount, step)}",
                          o.status)
        parts.append(table)
    if report.positions:
        table = Table(title="positions", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("symbol", no_wrap=True)
        for column in ("size", "entry price", "realized pnl"):
            table.add_column(column, justify="right", overflow="fold")
        for p in report.positions:
            tick, step = steps(p.symbol)
            table.add_row(p.symbol, format_decimal(p.size, step),
                          format_decimal(p.entry_price, tick),
                          format_decimal(p.realized_pnl, tick))
        parts.append(table)
    if report.balances:
        table = Table(title="balances", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("asset", no_wrap=True)
        for column in ("free", "used", "total"):
            table.add_column(column, justify="right", overflow="fold")
        for asset, b in report.balances.items():
            table.add_row(asset, format_decimal(b.free), format_decimal(b.used),
                          format_decimal(b.total))
        parts.append(table)
    return Group(*parts)


def status_flag_lines(flag: FlagLine) -> Text:
    """An open flag in ``status``: id, message, and the commands that resolve it."""
    text = Text()
    text.append(f"flag {flag.flag_id}", style="bold red")
    text.append(f" ({flag.severity}) {flag.message}\n")
    for action in flag.actions:
        text.append(f"  tradeguard resolve {flag.flag_id} --action {action}\n")
    return text


def previous_shutdown(session: Session) -> str:
    """How the trading run before this one ended, for the start-up banner (markup).

    Recovery compares with the newest run marker of any kind; after a crash and a
    ``tradeguard recover`` that is recover's own clean marker, so the banner also looks
    at the last *trading* run, which is what a person asks about.
    """
    rep = session.startup
    if rep is not None and rep.unclean_shutdown:
        return "[red]UNCLEAN[/] previous shutdown"
    service = session.service
    if not isinstance(service, LocalService):
        return "previous run unknown (no store to ask)"
    runs = [r for r in service.store.runs() if r.run_id != service.run_id]
    last = last_trading_run(runs)
    if last is None:
        return "no previous run"
    if not last.clean:
        return "[red]UNCLEAN[/] previous shutdown (already recovered by `tradeguard recover`)"
    return "clean previous shutdown"
