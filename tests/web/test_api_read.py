"""The read endpoints against a real running service (SQLite store, built-in simulator,
real HTTP on 127.0.0.1): shapes, values consistent with the session's state, and 4xx
JSON errors for bad queries."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import aiohttp
import pytest
from webfixtures import SYMBOL, RunningService, make_runtime, simulator_url, until

from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.orders import OPEN_STATUSES
from tradeguard.errors import InvalidRequestError, ServiceStartingError
from tradeguard.session.session import Session

AMOUNT = Decimal("0.001")


async def _far_limit_price(session: Session) -> Decimal:
    """A buy price far under the market: the order rests, open."""
    mid = (await session.ticker(SYMBOL)).mid
    assert mid is not None
    tick = session.market(SYMBOL).tick_size
    return (mid / 2).quantize(tick, rounding=ROUND_DOWN)


async def _external_order(runtime_where_url: str, price: Decimal) -> None:
    """An order of "another client" on the simulator: reconciliation flags it."""
    async with aiohttp.ClientSession() as http, http.post(
        f"{runtime_where_url}/_sim/order",
        json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
              "price": str(price)},
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_every_read_endpoint_agrees_with_the_session_state(
    service: RunningService,
) -> None:
    runtime, api = service.runtime, service.api
    session = runtime.session
    state = session.state
    price = await _far_limit_price(session)
    resting = await session.submit_order(SYMBOL, "buy", "limit", AMOUNT, price)
    assert resting.status is OrderStatus.OPEN
    bought = await session.submit_order(SYMBOL, "buy", "market", AMOUNT)
    await _external_order(simulator_url(runtime), price)
    await until(lambda: state.positions.get(SYMBOL) is not None
                and state.positions[SYMBOL].size == AMOUNT, "the market buy's fill")
    await until(lambda: any(f.kind == "external_order" for f in state.open_flags()),
                "the external order flagged by the periodic reconciliation")
    await until(lambda: runtime.view.marks.price(SYMBOL) is not None
                and len(runtime.view.chart) >= 2, "marks read and two chart samples")
    await until(lambda: runtime.health is not None, "a health round")

    # /api/status: the status report of the live state plus the run.
    status = await api.get_json("/api/status")
    assert status["phase"] == "running"
    assert status["running"] is True
    assert status["run_state"] == "running"
    assert status["last_seq"] <= state.last_seq
    assert {o["client_order_id"] for o in status["open_orders"]} == {
        str(o.client_order_id) for o in state.open_orders()
    }
    assert status["balances"]["USDT"]["total"] == str(state.balances["USDT"].total)
    assert [f["flag_id"] for f in status["flags"]] == [
        str(f.flag_id) for f in state.open_flags()
    ]
    service_core = runtime.service
    run = status["run"]
    assert run["run_id"] == service_core.run_id == status["last_run"]["run_id"]
    assert run["start"] == "clean"
    assert run["unclean_shutdown"] is False
    assert run["epoch"] == service_core.journal.epoch >= 1
    assert run["started_iso"].endswith("Z")
    assert run["uptime_s"] >= 0
    assert status["leader"] == {
        "holder": f"{service_core.run_id} {run['pid']}@{run['host']}",
        "epoch": run["epoch"], "role": "leader",
    }
    assert status["paused"] is False
    assert status["exchange"] == runtime.where
    assert set(status["jobs"]) == set(runtime.job_statuses())
    assert status["jobs"]["marks"]["runs"] >= 2
    assert status["equity"]["asset"] == "USDT"
    assert Decimal(status["equity"]["equity"]) > 0

    # /api/orders: newest first; filters by status and symbol.
    orders = await api.get_json("/api/orders")
    assert [o["client_order_id"] for o in orders] == [
        str(cid) for cid in reversed(state.orders)
    ]
    by_id = {o["client_order_id"]: o for o in orders}
    rest = by_id[str(resting.client_order_id)]
    assert rest["status"] == "open"
    assert rest["price"] == str(price)
    assert rest["amount"] == str(AMOUNT)
    assert rest["remaining"] == str(AMOUNT)
    assert rest["created_iso"].endswith("Z")
    open_ids = {o["client_order_id"] for o in await api.get_json(
        "/api/orders", params={"status": "open"})}
    assert open_ids == {str(o.client_order_id) for o in state.orders.values()
                        if o.status in OPEN_STATUSES}
    assert str(resting.client_order_id) in open_ids
    filled = await api.get_json("/api/orders", params={"status": "filled"})
    assert [o["client_order_id"] for o in filled] == [str(bought.client_order_id)]
    assert await api.get_json("/api/orders", params={"symbol": "ETH/USDT"}) == []
    assert len(await api.get_json("/api/orders", params={"symbol": SYMBOL})) == len(orders)

    # /api/positions: the mark and the unrealized PnL at it.
    (position,) = [p for p in await api.get_json("/api/positions") if not p["flat"]]
    held = state.positions[SYMBOL]
    assert position["symbol"] == SYMBOL
    assert position["size"] == str(held.size)
    assert position["entry_price"] == str(held.entry_price)
    mark = Decimal(position["mark_price"])
    assert mark > 0
    assert position["mark_ts_iso"].endswith("Z")
    assert Decimal(position["unrealized_pnl"]) == held.size * (mark - held.entry_price)

    # /api/balances: every asset, valued at the marks.
    balances = await api.get_json("/api/balances")
    assert [b["asset"] for b in balances] == sorted(state.balances)
    for row in balances:
        balance = state.balances[row["asset"]]
        assert (row["free"], row["used"], row["total"]) == (
            str(balance.free), str(balance.used), str(balance.total))
    usdt = next(b for b in balances if b["asset"] == "USDT")
    assert usdt["price"] == "1"
    assert usdt["value"] == usdt["total"]
    btc = next(b for b in balances if b["asset"] == "BTC")
    assert Decimal(btc["value"]) == Decimal(btc["total"]) * Decimal(btc["price"])

    # /api/health: the latest round.
    health = await api.get_json("/api/health")
    assert health["status"] in ("ok", "warn", "critical")
    assert health["checks"], health
    for check in health["checks"]:
        assert set(check) >= {"name", "status", "value", "threshold", "detail"}

    # /api/flags: open ones with their actions; all=true adds resolved ones.
    flags = await api.get_json("/api/flags")
    (flag,) = [f for f in flags if f["kind"] == "external_order"]
    assert flag["actions"] == ["adopt", "cancel_on_exchange", "ignore"]
    assert flag["status"] == "open"
    assert flag["raised_iso"].endswith("Z")
    assert flag["blocks"] in ("everything", SYMBOL)
    assert len(await api.get_json("/api/flags", params={"all": "true"})) == len(state.flags)

    # /api/reconciliations: the reports, each with the events it journaled.
    reports = await api.get_json("/api/reconciliations", params={"limit": "50"})
    assert reports
    assert [r["seq"] for r in reports] == sorted(
        (r["seq"] for r in reports), reverse=True)
    startup = reports[-1]
    # The first sight of the wallet is learned (journaled), not a discrepancy.
    assert "balance_mismatch" not in startup["found"], startup
    assert [e["seq"] for e in startup["corrective_events"]] == list(
        range(startup["first_seq"], startup["last_seq"] + 1))
    assert {e["type"] for e in startup["corrective_events"]} == {"balance_updated"}
    flagged = [r for r in reports if flag["flag_id"] in r["flags_raised"]]
    assert len(flagged) == 1
    assert flagged[0]["flags"][0]["flag_id"] == flag["flag_id"]
    assert any(e["type"] == "flag_raised" for e in flagged[0]["corrective_events"])
    assert len(await api.get_json("/api/reconciliations", params={"limit": "1"})) == 1

    # /api/journal: the newest records, or those after a seq, oldest first.
    store_last = service_core.store.last_seq()
    newest = await api.get_json("/api/journal", params={"limit": "5"})
    assert newest["last_seq"] >= store_last
    seqs = [r["seq"] for r in newest["records"]]
    assert len(seqs) == 5
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert seqs[-1] >= store_last
    page = await api.get_json("/api/journal", params={"after": "0", "limit": "1000"})
    first = await api.get_json("/api/journal", params={"after": "1", "limit": "3"})
    assert [r["seq"] for r in first["records"]] == [2, 3, 4]
    assert first["more"] is True
    assert first["records"][0]["type"] == page["records"][1]["type"]
    intended = next(r for r in page["records"] if r["type"] == "order_intended"
                    and r["fields"]["client_order_id"] == str(resting.client_order_id))
    assert intended["fields"]["price"] == str(price)
    assert intended["ts_iso"].endswith("Z")

    # /api/series: equal-length columns, oldest first.
    series = await api.get_json("/api/series")
    assert series["valuation_asset"] == "USDT"
    n = len(series["ts_ns"])
    assert n >= 2
    assert len(series["equity"]) == n == len(series["journal_append_p99_s"])
    assert series["ts_ns"] == sorted(series["ts_ns"])
    assert Decimal(series["equity"][-1]) > 0


BAD_QUERIES = [
    ("/api/orders", {"status": "bogus"}, "status"),
    ("/api/orders", {"symbol": " "}, "symbol"),
    ("/api/orders", {"colour": "red"}, "colour"),
    ("/api/journal", {"limit": "0"}, "limit"),
    ("/api/journal", {"limit": "1001"}, "limit"),
    ("/api/journal", {"limit": "ten"}, "limit"),
    ("/api/journal", {"after": "-1"}, "after"),
    ("/api/journal", {"after": "1.5"}, "after"),
    ("/api/reconciliations", {"limit": "0"}, "limit"),
    ("/api/reconciliations", {"limit": "x"}, "limit"),
    ("/api/flags", {"all": "maybe"}, "all"),
    ("/api/status", {"verbose": "1"}, "verbose"),
    ("/api/events", {"since": "3"}, "since"),
]


async def test_a_bad_query_parameter_is_a_400_naming_it(service: RunningService) -> None:
    for path, params, named in BAD_QUERIES:  # one service for all: starting one costs ~1 s
        resp = await service.api.get(path, params=params)
        assert resp.status == 400, (path, params, resp.body)
        assert resp.content_type == "application/json"
        body = resp.json()
        assert body["error"] == "invalid_request"
        assert repr(named) in body["message"] or f"{named}:" in body["message"], body


async def test_unknown_paths_and_methods_answer_json(service: RunningService) -> None:
    api = service.api
    missing = await api.get("/api/nothing-here")
    assert missing.status == 404
    assert missing.content_type == "application/json"
    assert "/api/nothing-here" in missing.json()["message"]
    repeated = await api.get("/api/journal?limit=1&limit=2")
    assert repeated.status == 400
    assert "limit" in repeated.json()["message"]
    wrong = await api.post("/api/orders")
    assert wrong.status == 405
    assert wrong.content_type == "application/json"


async def test_while_starting_status_says_so_and_other_reads_wait(tmp_path: Path) -> None:
    runtime, _ = make_runtime(tmp_path)
    view = runtime.view  # not started: the session is not open yet
    status = view.status()
    assert status["phase"] == "starting"
    assert "startup" in status
    assert status["run"] is None
    assert view.health()["status"] == "unknown"
    with pytest.raises(ServiceStartingError, match="starting"):
        view.orders()
    with pytest.raises(ServiceStartingError):
        await view.journal()
    assert view.series()["ts_ns"] == []
    with pytest.raises(InvalidRequestError, match="limit"):
        await view.journal(limit=0)
