"""Every injected fault produces the right tradeguard error, through real ccxt.

The point of these tests is principle 2 of DESIGN.md: after a submit whose answer was
lost, the error is ``AmbiguousOutcomeError`` (never a rejection), and only a query by
client order id settles it, in either direction.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from gwhelpers import GATEWAY_TIMEOUT_MS, Admin, make_gateway

from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.errors import (
    AmbiguousOutcomeError,
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitedError,
)
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.reports import OrderReport
from tradeguard.sim import SimulatorThread

D = Decimal
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
ORDER_PATH = {SPOT: "/api/v3/order", PERP: "/fapi/v1/order"}


async def submit(gateway: CcxtGateway, symbol: str, client_order_id: str) -> OrderReport:
    """A resting limit buy (notional 200 USDT, valid on both markets)."""
    return await gateway.create_order(
        symbol, Side.BUY, OrderType.LIMIT, D("0.01"), D(20000), client_order_id=client_order_id
    )


async def find_eventually(gateway: CcxtGateway, symbol: str, client_order_id: str) -> OrderReport:
    """The order by client id, waiting for a late-processed request (bounded, untimed)."""
    for _ in range(100):
        try:
            return await gateway.fetch_order(symbol, client_order_id=client_order_id)
        except OrderNotFoundError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"order {client_order_id} never appeared")


@pytest.mark.parametrize("symbol", [SPOT, PERP])
async def test_process_then_fail_is_ambiguous_and_the_order_is_found(
    gateway: CcxtGateway, admin: Admin, symbol: str
) -> None:
    await admin.fault(ORDER_PATH[symbol], "process_then_fail", method="POST")
    with pytest.raises(AmbiguousOutcomeError, match="client_order_id=ptf-1") as info:
        await submit(gateway, symbol, "ptf-1")
    assert symbol in str(info.value)
    found = await gateway.fetch_order(symbol, client_order_id="ptf-1")
    assert found.status is OrderStatus.OPEN
    assert len(await admin.orders_with_client_id("ptf-1")) == 1  # sent exactly once


async def test_process_then_503_is_ambiguous_and_the_order_is_found(
    gateway: CcxtGateway, admin: Admin
) -> None:
    await admin.fault("/api/v3/order", "process_then_fail", method="POST", status=503)
    with pytest.raises(AmbiguousOutcomeError):
        await submit(gateway, SPOT, "ptf-503")
    assert (await gateway.fetch_order(SPOT, client_order_id="ptf-503")).client_order_id == "ptf-503"


@pytest.mark.parametrize("symbol", [SPOT, PERP])
async def test_delay_beyond_timeout_is_ambiguous_and_the_order_appears(
    gateway: CcxtGateway, admin: Admin, symbol: str
) -> None:
    await admin.fault(ORDER_PATH[symbol], "delay", method="POST", delay_ms=GATEWAY_TIMEOUT_MS + 500)
    with pytest.raises(AmbiguousOutcomeError, match="outcome unknown"):
        await submit(gateway, symbol, "slow-1")
    # The exchange processes the request after our timeout: the order exists.
    assert (await find_eventually(gateway, symbol, "slow-1")).status is OrderStatus.OPEN
    assert len(await admin.orders_with_client_id("slow-1")) == 1


@pytest.mark.parametrize(
    ("action", "extra"),
    [("drop", {}), ("status", {"status": 503}), ("status", {"status": 502})],
)
async def test_unprocessed_failures_are_ambiguous_then_provably_absent(
    gateway: CcxtGateway, admin: Admin, action: str, extra: dict[str, int]
) -> None:
    await admin.fault("/api/v3/order", action, method="POST", **extra)
    with pytest.raises(AmbiguousOutcomeError):
        await submit(gateway, SPOT, "lost-1")
    with pytest.raises(OrderNotFoundError):
        await gateway.fetch_order(SPOT, client_order_id="lost-1")


async def test_garbled_200_on_submit_is_ambiguous(gateway: CcxtGateway, admin: Admin) -> None:
    # HTTP 200 with a non-JSON body: ccxt returns an order without an id.
    await admin.fault("/api/v3/order", "status", method="POST", status=200)
    with pytest.raises(AmbiguousOutcomeError, match="without order id"):
        await submit(gateway, SPOT, "garbled-1")


async def test_garbled_200_on_read_is_an_exchange_error(gateway: CcxtGateway, admin: Admin) -> None:
    await admin.fault("/api/v3/openOrders", "status", method="GET", status=200)
    with pytest.raises(ExchangeError, match="fetch_open_orders BTC/USDT") as info:
        await gateway.fetch_open_orders(SPOT)
    assert not isinstance(info.value, AmbiguousOutcomeError)


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("delay", {"delay_ms": GATEWAY_TIMEOUT_MS + 500}),
        ("drop", {}),
        ("status", {"status": 503}),
        ("error_code", {"code": -1000}),
    ],
)
async def test_read_failures_are_unavailable(
    gateway: CcxtGateway, admin: Admin, action: str, extra: dict[str, int]
) -> None:
    await admin.fault("/api/v3/openOrders", action, method="GET", **extra)
    with pytest.raises(ExchangeUnavailableError, match="fetch_open_orders"):
        await gateway.fetch_open_orders(SPOT)
    assert await gateway.fetch_open_orders(SPOT) == []  # the next call works


async def test_unknown_error_on_submit_is_ambiguous(gateway: CcxtGateway, admin: Admin) -> None:
    # -1000 "unknown error": ccxt's OperationFailed; Binance may have processed it.
    await admin.fault("/api/v3/order", "error_code", method="POST", code=-1000)
    with pytest.raises(AmbiguousOutcomeError):
        await submit(gateway, SPOT, "unknown-1")


async def test_cancel_with_lost_answer_is_ambiguous(gateway: CcxtGateway, admin: Admin) -> None:
    await submit(gateway, SPOT, "c-1")
    await admin.fault("/api/v3/order", "process_then_fail", method="DELETE")
    with pytest.raises(AmbiguousOutcomeError, match="cancel_order"):
        await gateway.cancel_order(SPOT, client_order_id="c-1")
    assert (await gateway.fetch_order(SPOT, client_order_id="c-1")).status is OrderStatus.CANCELED


async def test_duplicate_client_order_id_is_invalid(gateway: CcxtGateway, admin: Admin) -> None:
    await submit(gateway, SPOT, "dup-1")
    with pytest.raises(InvalidOrderError) as info:
        await submit(gateway, SPOT, "dup-1")
    assert not isinstance(info.value, InsufficientFundsError)
    assert "-2010" in str(info.value)
    assert len(await admin.orders_with_client_id("dup-1")) == 1


@pytest.mark.parametrize(
    ("symbol", "amount", "price"),
    [
        (SPOT, D("0.00001"), D(20000)),  # notional 0.2 < 5: NOTIONAL (-1013)
        (PERP, D("0.001"), D(20000)),  # notional 20 < 100
        (SPOT, D(9001), D(1)),  # above LOT_SIZE's maxQty
        (SPOT, D("0.00001"), D(2000000)),  # above PRICE_FILTER's maxPrice
    ],
)
async def test_filter_failures_are_invalid(
    gateway: CcxtGateway, symbol: str, amount: Decimal, price: Decimal
) -> None:
    with pytest.raises(InvalidOrderError) as info:
        await gateway.create_order(
            symbol, Side.BUY, OrderType.LIMIT, amount, price, client_order_id="filter-1"
        )
    assert not isinstance(info.value, InsufficientFundsError)


@pytest.mark.parametrize(("symbol", "amount"), [(SPOT, D(5)), (PERP, D(100))])
async def test_insufficient_balance(gateway: CcxtGateway, symbol: str, amount: Decimal) -> None:
    with pytest.raises(InsufficientFundsError, match="insufficient"):
        await gateway.create_order(
            symbol, Side.BUY, OrderType.LIMIT, amount, D(50000), client_order_id="poor-1"
        )


@pytest.mark.parametrize(
    ("api_key", "secret"), [("demo", "Wrong-Secret-4242"), ("nobody-key", "demo")]
)
async def test_bad_credentials(sim: SimulatorThread, api_key: str, secret: str) -> None:
    async with make_gateway(sim, api_key=api_key, secret=secret) as gw:
        assert secret not in repr(gw)
        assert secret not in str(gw)
        for attempt in (gw.fetch_balances(), submit(gw, SPOT, "auth-1")):
            with pytest.raises(AuthenticationError) as info:
                await attempt
            for text in (str(info.value), repr(info.value), str(info.value.__cause__)):
                assert "Wrong-Secret-4242" not in text


@pytest.mark.parametrize("kind", ["fault", "limit"])
async def test_rate_limited(gateway: CcxtGateway, admin: Admin, kind: str) -> None:
    if kind == "fault":
        await admin.fault("/api/v3/order", "status", method="POST", status=429, code=-1003)
    else:
        await admin.post("rate_limit", {"per_second": 1})
    refused: list[RateLimitedError] = []
    for index in range(50):  # two requests inside one 1-second window are enough
        try:
            await submit(gateway, SPOT, f"rl-{index}")
        except RateLimitedError as exc:
            refused.append(exc)
            break
    assert refused, "no RateLimitedError in 50 submits"
    assert "client_order_id=rl-" in str(refused[0])
    await admin.post("rate_limit", {"per_second": 0})


@pytest.mark.parametrize("skew_ms", [60_000, -60_000])
async def test_clock_skew_is_healed_by_time_sync(
    gateway: CcxtGateway, admin: Admin, skew_ms: int
) -> None:
    await gateway.fetch_time_ns()
    await admin.post("clock_skew", {"ms": skew_ms})
    # The first signed request is rejected with -1021; the gateway syncs and resends.
    placed = await submit(gateway, SPOT, "skew-1")
    assert placed.status is OrderStatus.OPEN
    assert len(await admin.orders_with_client_id("skew-1")) == 1
    assert [o.client_order_id for o in await gateway.fetch_open_orders(SPOT)] == ["skew-1"]
    assert len(await gateway.fetch_balances()) >= 3


async def test_persistent_timestamp_rejection_is_not_retried_forever(
    gateway: CcxtGateway, admin: Admin
) -> None:
    await admin.fault("/api/v3/order", "error_code", method="POST", code=-1021, count=5)
    with pytest.raises(ExchangeError, match="clock skew") as info:
        await submit(gateway, SPOT, "skew-2")
    assert not isinstance(info.value, AmbiguousOutcomeError)
    state = await admin.state()
    assert state["faults"][0]["remaining"] == 3  # the first try and one retry
