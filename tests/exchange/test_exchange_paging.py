"""Paging of order/trade histories by id and by time, on an in-memory history.

The history below behaves as Binance documents: ``fromId``/``orderId`` returns items
with id >= it, ``since`` items with timestamp >= it, ascending, at most ``limit``; with
neither it returns the *latest* ``limit`` items (the trap the id pager avoids).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tradeguard.errors import ExchangeError
from tradeguard.exchange.paging import fetch_all_by_id, fetch_all_by_time
from tradeguard.exchange.reports import PageCursor


class History:
    """A list of {id, timestamp} items served the way Binance pages them."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.calls = 0

    async def fetch(self, since_ms: int | None, limit: int, params: dict[str, Any]) -> list[Any]:
        self.calls += 1
        rows = sorted(self.items, key=lambda item: int(item["id"]))
        if "fromId" in params:
            rows = [r for r in rows if int(r["id"]) >= params["fromId"]]
        elif since_ms is not None:
            rows = [r for r in rows if r["timestamp"] >= since_ms]
            rows.sort(key=lambda r: (r["timestamp"], int(r["id"])))
        else:
            return rows[-limit:]
        return rows[:limit]


def make_items(rng: random.Random, count: int) -> list[dict[str, Any]]:
    ts = 1_700_000_000_000
    items = []
    for index in range(count):
        ts += rng.choice([0, 0, 1, 5])  # many items share a millisecond
        items.append({"id": str(index + 1), "timestamp": ts})
    return items


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_by_id_returns_everything_once_across_calls(seed: int) -> None:
    rng = random.Random(seed)
    history = History(make_items(rng, 37))
    cursor = PageCursor()
    seen: list[str] = []
    for _ in range(3):  # more items arrive between calls
        items, cursor = await fetch_all_by_id(
            history.fetch, cursor=cursor, id_param="fromId", limit=5, what="test"
        )
        seen.extend(item["id"] for item in items)
        start = len(history.items)
        history.items.extend(
            {"id": str(start + i + 1), "timestamp": 1_800_000_000_000 + i} for i in range(4)
        )
    assert seen == [str(i) for i in range(1, 38 + 8)], f"seed={seed}"
    assert cursor == PageCursor(after_id=str(37 + 8))
    assert history.calls > 3  # more than one page per call


async def test_by_id_with_nothing_new_keeps_the_cursor() -> None:
    history = History([{"id": "1", "timestamp": 1}])
    cursor = PageCursor(after_id="1")
    items, new_cursor = await fetch_all_by_id(
        history.fetch, cursor=cursor, id_param="fromId", limit=5, what="test"
    )
    assert items == []
    assert new_cursor == cursor


async def test_by_id_from_a_timestamp() -> None:
    history = History([{"id": str(i), "timestamp": 1000 + i} for i in range(1, 20)])
    items, cursor = await fetch_all_by_id(
        history.fetch,
        cursor=PageCursor(since_ns=1010 * 1_000_000),
        id_param="fromId",
        limit=4,
        what="test",
    )
    assert [item["id"] for item in items] == [str(i) for i in range(10, 20)]
    assert cursor.after_id == "19"


async def test_by_id_rejects_non_integer_ids() -> None:
    with pytest.raises(ExchangeError, match="not an integer"):
        await fetch_all_by_id(
            lambda s, n, p: _const([{"id": "abc", "timestamp": 1}]),
            cursor=PageCursor(after_id="0"),
            id_param="fromId",
            limit=5,
            what="test",
        )


async def _const(rows: list[Any]) -> list[Any]:
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_by_time_returns_everything_once_despite_shared_milliseconds(seed: int) -> None:
    rng = random.Random(seed)
    history = History(make_items(rng, 41))
    cursor = PageCursor()
    seen: list[str] = []
    for _ in range(3):
        items, cursor = await fetch_all_by_time(history.fetch, cursor=cursor, limit=6, what="t")
        seen.extend(item["id"] for item in items)
    # Without a cursor the first call starts at the latest page (the exchange decides);
    # every later item is seen exactly once.
    assert len(seen) == len(set(seen)), f"seed={seed}"
    assert seen[-1] == "41"
    rng_items = {item["id"] for item in history.items}
    assert set(seen) <= rng_items


async def test_by_time_from_zero_gets_the_full_history_once() -> None:
    # Two items per millisecond: a page of 4 always ends inside a shared millisecond.
    history = History([{"id": str(i), "timestamp": 100 + i // 2} for i in range(1, 31)])
    items, cursor = await fetch_all_by_time(
        history.fetch, cursor=PageCursor(since_ns=0), limit=4, what="t"
    )
    assert sorted(int(item["id"]) for item in items) == list(range(1, 31))
    again, _ = await fetch_all_by_time(history.fetch, cursor=cursor, limit=4, what="t")
    assert again == []


async def test_by_time_stuck_on_one_millisecond_is_an_error() -> None:
    history = History([{"id": str(i), "timestamp": 5} for i in range(1, 10)])
    with pytest.raises(ExchangeError, match="share the timestamp"):
        await fetch_all_by_time(history.fetch, cursor=PageCursor(since_ns=0), limit=3, what="t")
