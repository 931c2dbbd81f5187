"""Binance error codes and injected faults, as the real ccxt client experiences them."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from simfixtures import make_ccxt
from tradeguard.sim import FaultRule, SimulatorThread

SYMBOL = "BTC/USDT"
ORDER = "/api/v3/order"


def arm(sim: SimulatorThread, **rule: Any) -> None:
    sim.call(lambda: sim.server.faults.add(FaultRule(**rule)))


def spot_orders(sim: SimulatorThread) -> list[dict[str, Any]]:
    return [o for o in sim.state()["orders"] if o["market"] == "spot"]


async def test_order_errors_map_to_ccxt_classes(spot: Any) -> None:
    with pytest.raises(ccxt_async.OrderNotFound):
        await spot.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt_async.OrderNotFound):
        await spot.fetch_order(None, SYMBOL, {"clientOrderId": "never-sent"})
    with pytest.raises(ccxt_async.OrderNotFound):
        await spot.cancel_order("999999", SYMBOL)
    filled = await spot.create_order(SYMBOL, "market", "buy", 0.001)
    with pytest.raises(ccxt_async.OrderNotFound):  # -2011: cancel of a closed order
        await spot.cancel_order(filled["id"], SYMBOL)
    await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "d-1"})
    with pytest.raises(ccxt_async.InvalidOrder, match="Duplicate order sent"):
        await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "d-1"})
    with pytest.raises(ccxt_async.InsufficientFunds):
        await spot.create_order(SYMBOL, "limit", "buy", 3, 50000)
    with pytest.raises(ccxt_async.InvalidOrder, match="LOT_SIZE"):
        await spot.create_order(SYMBOL, "limit", "sell", 9500, 50000)
    with pytest.raises(ccxt_async.InvalidOrder, match="PRICE_FILTER"):
        await spot.create_order(SYMBOL, "limit", "sell", 0.001, 2000000)
    with pytest.raises(ccxt_async.BadRequest, match="NOTIONAL"):
        await spot.create_order(SYMBOL, "limit", "buy", 0.00001, 50000)


async def test_bad_signature_and_bad_key(sim: SimulatorThread) -> None:
    wrong_secret = make_ccxt(sim.url)
    wrong_secret.secret = "not-the-secret"
    wrong_key = make_ccxt(sim.url)
    wrong_key.apiKey = "someone-else"
    try:
        with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
            await wrong_secret.fetch_balance({"type": "spot"})
        with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
            await wrong_key.fetch_balance({"type": "spot"})
    finally:
        await wrong_secret.close()
        await wrong_key.close()


async def test_clock_skew_gives_invalid_nonce_until_time_is_synced(
    spot: Any, sim: SimulatorThread
) -> None:
    sim.call(lambda: setattr(sim.server, "clock_skew_ms", 30_000))
    with pytest.raises(ccxt_async.InvalidNonce):
        await spot.fetch_balance()
    await spot.load_time_difference()
    assert (await spot.fetch_balance())["USDT"]["total"] == 100000.0
    sim.call(lambda: setattr(sim.server, "clock_skew_ms", -30_000))
    with pytest.raises(ccxt_async.InvalidNonce):
        await spot.fetch_balance()


async def test_rate_limit_gives_ddos_protection(spot: Any, sim: SimulatorThread) -> None:
    sim.call(lambda: setattr(sim.server, "rate_limit_per_s", 3))

    async def burst() -> None:
        for _ in range(20):
            await spot.fetch_time()

    with pytest.raises(ccxt_async.DDoSProtection):
        await burst()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"action": "drop"}, ccxt_async.ExchangeNotAvailable),
        ({"action": "status", "status": 503}, ccxt_async.ExchangeNotAvailable),
        ({"action": "status", "status": 504}, ccxt_async.RequestTimeout),
        ({"action": "error_code", "code": -1003}, ccxt_async.RateLimitExceeded),
        ({"action": "error_code", "code": -1000}, ccxt_async.OperationFailed),
        ({"action": "status", "status": 500, "code": -1001}, ccxt_async.OperationFailed),
    ],
)
async def test_faults_before_processing_leave_no_order(
    spot: Any, sim: SimulatorThread, rule: dict[str, Any], expected: type[Exception]
) -> None:
    arm(sim, path=ORDER, method="POST", **rule)
    with pytest.raises(expected):
        await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "f-1"})
    assert spot_orders(sim) == []
    # The fault fired once; the next request goes through.
    await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "f-1"})
    assert len(spot_orders(sim)) == 1


@pytest.mark.parametrize("status", [0, 503])
async def test_process_then_fail_leaves_the_order_on_the_exchange(
    spot: Any, sim: SimulatorThread, status: int
) -> None:
    arm(sim, path=ORDER, method="POST", action="process_then_fail", status=status)
    with pytest.raises(ccxt_async.ExchangeNotAvailable):
        await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "amb-1"})
    [truth] = spot_orders(sim)
    assert truth["clientOrderId"] == "amb-1"
    assert truth["status"] == "NEW"
    found = await spot.fetch_order(None, SYMBOL, {"clientOrderId": "amb-1"})
    assert found["id"] == str(truth["orderId"])
    assert found["status"] == "open"


async def test_delay_beyond_client_timeout_still_places_the_order(
    spot: Any, sim: SimulatorThread
) -> None:
    spot.timeout = 300
    arm(sim, path=ORDER, method="POST", action="delay", delay_ms=800)
    with pytest.raises(ccxt_async.RequestTimeout):
        await spot.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "slow"})
    # The server finishes the request after the client gave up: wait for it (bounded).
    for _ in range(100):
        if spot_orders(sim):
            break
        await asyncio.sleep(0.05)
    assert [o["clientOrderId"] for o in spot_orders(sim)] == ["slow"]


async def test_process_then_fail_on_usdm_and_fault_scoping(usdm: Any, sim: SimulatorThread) -> None:
    arm(sim, path="/fapi/*", method="POST", action="process_then_fail", count=2)
    for cid in ("u-1", "u-2"):
        with pytest.raises(ccxt_async.NetworkError):
            await usdm.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 50000,
                                    {"clientOrderId": cid})
    # GETs were not matched by the POST-only rule, and the rule is used up now.
    open_orders = await usdm.fetch_open_orders()
    assert sorted(o["clientOrderId"] for o in open_orders) == ["u-1", "u-2"]
    assert sim.state()["faults"] == []
