"""Fetch every page of an incremental history query (orders or trades) after a cursor.

Two ways an exchange can be paged, both exact:

- **by id** (Binance: ``fromId`` for trades, ``orderId`` for orders): ids grow per
  symbol, so "the last id seen + 1" is a precise position. With no position at all the
  first request asks for id 0, because Binance otherwise returns only the *latest*
  page, silently skipping older history.
- **by time** (any ccxt exchange): ``since`` in ms, inclusive. Items sharing the
  boundary millisecond are remembered in the cursor (``seen_ids``) so that they are
  neither lost nor returned twice.

The page function is given; this module does no I/O of its own and knows no ccxt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tradeguard.errors import ExchangeError
from tradeguard.exchange.reports import PageCursor

__all__ = ["FetchPage", "fetch_all_by_id", "fetch_all_by_time"]

_NS_PER_MS = 1_000_000

Item = Mapping[str, Any]
FetchPage = Callable[[int | None, int, dict[str, Any]], Awaitable[list[Item]]]
"""``fetch(since_ms, limit, params)`` returning one page of ccxt dicts."""


def _int_id(item: Item, *, what: str) -> int:
    raw = item.get("id")
    try:
        return int(str(raw))
    except ValueError as exc:
        raise ExchangeError(
            f"{what}: id {raw!r} is not an integer; page this exchange by time instead"
        ) from exc


def _ts_ns(item: Item, *, what: str) -> int:
    ts = item.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise ExchangeError(f"{what}: item {item.get('id')!r} has no integer 'timestamp'")
    return ts * _NS_PER_MS


async def fetch_all_by_id(
    fetch: FetchPage, *, cursor: PageCursor, id_param: str, limit: int, what: str
) -> tuple[list[Item], PageCursor]:
    """Every item after ``cursor.after_id`` (or at/after ``cursor.since_ns``), id order.

    Returns the items and the cursor positioned after the last one (unchanged when
    there was nothing new).
    """
    after = None if cursor.after_id is None else int(cursor.after_id)
    since_ns = cursor.since_ns
    items: list[Item] = []
    while True:
        if after is not None:
            page = await fetch(None, limit, {id_param: after + 1})
        elif since_ns is not None:
            page = await fetch(since_ns // _NS_PER_MS, limit, {})
        else:
            page = await fetch(None, limit, {id_param: 0})
        fresh = sorted(
            (item for item in page if after is None or _int_id(item, what=what) > after),
            key=lambda item: _int_id(item, what=what),
        )
        if since_ns is not None and after is None:
            fresh = [item for item in fresh if _ts_ns(item, what=what) >= since_ns]
        if fresh:
            items.extend(fresh)
            after = _int_id(fresh[-1], what=what)
        # A short page is the last one; a full page with nothing new means the
        # exchange ignored the id parameter, and asking again would loop forever.
        if len(page) < limit or not fresh:
            break
    if after is None:
        return items, cursor
    return items, PageCursor(after_id=str(after))


async def fetch_all_by_time(
    fetch: FetchPage, *, cursor: PageCursor, limit: int, what: str
) -> tuple[list[Item], PageCursor]:
    """Every item at/after ``cursor.since_ns`` not in ``cursor.seen_ids``, time order.

    Raises ``ExchangeError`` if more than ``limit`` items share one millisecond: the
    exchange could not be paged past them without losing some.
    """
    since_ns = cursor.since_ns
    seen = set(cursor.seen_ids)
    items: list[Item] = []
    while True:
        page = await fetch(None if since_ns is None else since_ns // _NS_PER_MS, limit, {})
        fresh = []
        for item in page:
            ts = _ts_ns(item, what=what)
            if since_ns is not None and (
                ts < since_ns or (ts == since_ns and str(item.get("id")) in seen)
            ):
                continue
            fresh.append(item)
        fresh.sort(key=lambda item: (_ts_ns(item, what=what), str(item.get("id"))))
        for item in fresh:
            ts = _ts_ns(item, what=what)
            if ts != since_ns:
                since_ns, seen = ts, set()
            seen.add(str(item.get("id")))
        items.extend(fresh)
        if len(page) < limit:
            break
        if not fresh:
            raise ExchangeError(
                f"{what}: more than {limit} items share the timestamp {since_ns} ns; "
                "raise page_limit to page past them"
            )
    if since_ns is None:
        return items, cursor
    return items, PageCursor(since_ns=since_ns, seen_ids=tuple(sorted(seen)))
