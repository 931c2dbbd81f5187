"""``fetch_ticker``: the pure parser and the real ccxt call against the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gwhelpers import Admin

from tradeguard.errors import ExchangeError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.exchange.parsing import parse_ticker
from tradeguard.exchange.reports import TickerReport


def test_parse_ticker_reads_bid_ask_last_and_timestamp() -> None:
    report = parse_ticker(
        {"symbol": "BTC/USDT", "bid": 99.5, "ask": "100.5", "last": 100.0, "timestamp": 1_000},
        now_ns=5,
    )
    assert report == TickerReport(
        symbol="BTC/USDT",  # type: ignore[arg-type]
        bid=Decimal("99.5"),
        ask=Decimal("100.5"),
        last=Decimal("100.0"),
        ts_ns=1_000_000_000,
    )
    assert report.mid == Decimal("100.0")


def test_parse_ticker_without_quotes_uses_last_and_now() -> None:
    report = parse_ticker({"symbol": "X/Y", "bid": 0, "ask": None, "last": "7"}, now_ns=42)
    assert (report.bid, report.ask, report.mid, report.ts_ns) == (None, None, Decimal(7), 42)


@pytest.mark.parametrize(
    "payload",
    [
        {"symbol": "X/Y", "bid": 1, "ask": None, "last": None},
        {"symbol": "X/Y", "bid": 2, "ask": 1, "last": 1},
        {"bid": 1, "ask": 2, "last": 1},
        {"symbol": "X/Y", "bid": "nan", "ask": 2, "last": 1},
    ],
)
def test_parse_ticker_refuses_useless_or_garbled_payloads(payload: dict[str, object]) -> None:
    with pytest.raises(ExchangeError, match="fetch_ticker"):
        parse_ticker(payload, now_ns=0)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_fetch_ticker_follows_the_simulator_price(
    gateway: CcxtGateway, admin: Admin, symbol: str
) -> None:
    market = "spot" if ":" not in symbol else "usdm"
    await admin.post("price", {"symbol": "BTCUSDT", "price": "50000", "market": market})
    ticker = await gateway.fetch_ticker(symbol)
    assert ticker.symbol == symbol
    assert ticker.last == Decimal(50000)
    if market == "spot":
        # Binance's USD-M 24h ticker has no bid/ask (mid then falls back to last).
        assert ticker.bid is not None
        assert ticker.ask is not None
        assert ticker.bid <= Decimal(50000) <= ticker.ask
    assert ticker.mid is not None
    assert ticker.ts_ns > 0
    await admin.post("price", {"symbol": "BTCUSDT", "price": "51000", "market": market})
    assert (await gateway.fetch_ticker(symbol)).last == Decimal(51000)


async def test_fetch_ticker_of_unknown_symbol_is_an_exchange_error(gateway: CcxtGateway) -> None:
    with pytest.raises(ExchangeError):
        await gateway.fetch_ticker("NOPE/USDT")
