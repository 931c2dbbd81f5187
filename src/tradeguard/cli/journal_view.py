"""What ``tradeguard journal`` shows: which records (newest by default, filtered), decoded.

Without ``--after`` the newest records are shown (what a person looking at a journal
wants first); ``--after N`` pages forward from seq N as before. ``--type`` and
``--symbol`` filter (a symbol's records include those naming one of its orders by
client order id, as acknowledgements and fills do); the newest matches are found by
reading the journal backwards in chunks, so a long journal is not decoded whole to show
its tail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec
from rich import box
from rich.table import Table
from rich.text import Text

from tradeguard.errors import CorruptRecordError, UnsupportedVersionError
from tradeguard.recovery.manager import recover
from tradeguard.storage.base import Store
from tradeguard.storage.codec import decode_event
from tradeguard.storage.records import StoredRecord

__all__ = ["JournalQuery", "journal_table", "select_records"]


class JournalQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which records to show: ``after`` None means the newest ``count``."""

    count: int = 50
    after: int | None = None
    types: frozenset[str] = frozenset()
    symbol: str | None = None
    # Client order ids of ``symbol``'s orders: acks, fills and cancels name the order,
    # not always the symbol (filled in by ``select_records``).
    symbol_orders: frozenset[str] = frozenset()


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).isoformat(timespec="milliseconds")


def _row(record: StoredRecord) -> dict[str, Any]:
    try:
        payload: Any = msgspec.to_builtins(
            decode_event(record.type, record.version, record.payload), enc_hook=str
        )
        payload.pop("type", None)
        payload.pop("ts_ns", None)
    except (CorruptRecordError, UnsupportedVersionError) as exc:
        payload = {"error": str(exc)}
    return {
        "seq": record.seq,
        "ts": _iso(record.ts_ns),
        "type": record.type,
        "version": record.version,
        "epoch": record.epoch,
        "data": payload,
    }


def _matches(query: JournalQuery, record: StoredRecord) -> dict[str, Any] | None:
    if query.types and record.type not in query.types:
        return None
    row = _row(record)
    if query.symbol is not None:
        data = row["data"]
        if data.get("symbol") != query.symbol and (
            data.get("client_order_id") not in query.symbol_orders
        ):
            return None
    return row


def _forward(store: Store, query: JournalQuery, after: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = after
    chunk = max(query.count, 500)
    while len(rows) < query.count:
        records = list(store.read(after_seq=cursor, limit=chunk))
        if not records:
            break
        rows.extend(r for r in (_matches(query, rec) for rec in records) if r is not None)
        cursor = records[-1].seq
    return rows[: query.count]


def _backward(store: Store, query: JournalQuery, last_seq: int) -> list[dict[str, Any]]:
    found: list[list[dict[str, Any]]] = []
    total = 0
    upper = last_seq
    chunk = max(query.count * 4, 500)
    while upper > 0 and total < query.count:
        lower = max(upper - chunk, 0)
        records: Iterable[StoredRecord] = store.read(after_seq=lower, limit=upper - lower)
        rows = [r for r in (_matches(query, rec) for rec in records) if r is not None]
        found.append(rows)
        total += len(rows)
        upper = lower
    newest_first = [row for rows in found for row in reversed(rows)][: query.count]
    return list(reversed(newest_first))


def select_records(store: Store, query: JournalQuery) -> tuple[int, list[dict[str, Any]]]:
    """``(last_seq, rows)``: the selected records, oldest first, decoded for display."""
    last = store.last_seq()
    if query.count <= 0:
        return last, []
    if query.symbol is not None:
        state, _ = recover(store, write=False)
        ids = {cid for cid, order in state.orders.items() if order.symbol == query.symbol}
        query = msgspec.structs.replace(query, symbol_orders=frozenset(ids))
    if query.after is not None:
        return last, _forward(store, query, query.after)
    return last, _backward(store, query, last)


def journal_table(last_seq: int, rows: list[dict[str, Any]], query: JournalQuery) -> Table:
    """The records as a table whose seq, type and data are never cut off."""
    if query.after is None:
        title = f"journal: newest {len(rows)} of {last_seq:,} records (last seq {last_seq:,})"
    else:
        title = f"journal: {len(rows)} records after seq {query.after:,} (last seq {last_seq:,})"
    filters = [f"type {', '.join(sorted(query.types))}"] if query.types else []
    if query.symbol:
        filters.append(f"symbol {query.symbol}")
    table = Table(title=title, caption="; ".join(filters) or None, box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("seq", no_wrap=True, justify="right")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("record", overflow="fold")
    for row in rows:
        # One field a line under the type: at 80 columns a client order id then fits on
        # its line whole, so it can be copied into the next command.
        fields = "\n".join(f"  {k}={v}" for k, v in row["data"].items())
        date, _, clock = row["ts"].removesuffix("+00:00").partition("T")
        record = Text(row["type"], style="bold")
        if fields:
            record.append("\n" + fields)
        table.add_row(str(row["seq"]), f"{date}\n{clock}", record)
    return table
