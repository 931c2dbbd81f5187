"""Local order checks (what ccxt would silently change) and the token bucket."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tradeguard.domain.enums import MarketKind, OrderType
from tradeguard.errors import ConfigError, InvalidOrderError
from tradeguard.exchange.orders import validate_order
from tradeguard.exchange.pacing import TokenBucket
from tradeguard.exchange.reports import MarketInfo

SPOT = MarketInfo(
    symbol="BTC/USDT",
    kind=MarketKind.SPOT,
    base="BTC",
    quote="USDT",
    settle=None,
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_amount=Decimal("0.00001"),
    min_notional=Decimal(5),
    contract=False,
    linear=None,
    inverse=None,
    contract_size=Decimal(1),
)
D = Decimal


def check(order_type: OrderType, amount: str, price: str | None, reduce_only: bool = False) -> None:
    validate_order(
        SPOT,
        order_type,
        D(amount),
        None if price is None else D(price),
        reduce_only=reduce_only,
        context="binance create_order BTC/USDT client_order_id=c1",
    )


def test_valid_orders_pass() -> None:
    check(OrderType.LIMIT, "0.00100", "30000.10")
    check(OrderType.MARKET, "1", None)
    # Below the minimum notional: the exchange judges that, not us.
    check(OrderType.LIMIT, "0.00001", "1.00")


@pytest.mark.parametrize(
    ("order_type", "amount", "price", "reduce_only", "fragment"),
    [
        (OrderType.LIMIT, "0.000015", "30000", False, "step size"),
        (OrderType.LIMIT, "0.001", "30000.005", False, "tick size"),
        (OrderType.LIMIT, "0", "30000", False, "must be > 0"),
        (OrderType.LIMIT, "-1", "30000", False, "must be > 0"),
        (OrderType.LIMIT, "0.001", None, False, "needs a price"),
        (OrderType.LIMIT, "0.001", "0", False, "price 0 must be > 0"),
        (OrderType.MARKET, "0.001", "30000", False, "takes no price"),
        (OrderType.MARKET, "0.001", None, True, "reduce_only"),
    ],
)
def test_invalid_orders_are_refused_before_sending(
    order_type: OrderType, amount: str, price: str | None, reduce_only: bool, fragment: str
) -> None:
    with pytest.raises(InvalidOrderError, match=fragment) as info:
        check(order_type, amount, price, reduce_only)
    assert "client_order_id=c1" in str(info.value)
    assert "not sent" in str(info.value)


def test_amount_beyond_float_precision_is_refused() -> None:
    fine = MarketInfo(
        **{**{f: getattr(SPOT, f) for f in SPOT.__struct_fields__}, "step_size": D("1e-20")}
    )
    with pytest.raises(InvalidOrderError, match="digits"):
        validate_order(
            fine,
            OrderType.MARKET,
            D("1.00000000000000000001"),
            None,
            reduce_only=False,
            context="x",
        )


async def test_token_bucket_allows_the_burst_then_waits() -> None:
    # A rate so low that no token refills during the test: the count is exact.
    bucket = TokenBucket(rate_per_s=0.001, burst=3)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


async def test_token_bucket_acquire_waits_for_a_refill() -> None:
    bucket = TokenBucket(rate_per_s=200, burst=1)
    await bucket.acquire()
    assert not bucket.try_acquire()
    # The next acquire must wait for a refill; it completes (no timing asserted).
    await asyncio.wait_for(bucket.acquire(), timeout=30)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_token_bucket_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ConfigError):
        TokenBucket(rate, burst)
