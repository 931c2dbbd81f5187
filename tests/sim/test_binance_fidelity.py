"""The simulator answers as Binance does, seen through real ccxt over 127.0.0.1.

Plain ccxt (default options, only the URLs rewritten) must load and trade; every
public endpoint has Binance's own shape; futures margin, filters, error codes,
recvWindow and the rate-limit headers follow Binance's definitions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from simfixtures import point_ccxt_at
from tradeguard.sim import SimulatorThread

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


def set_price(sim: SimulatorThread, key: str, price: str) -> None:
    sim.call(lambda: sim.engine.set_price(key, Decimal(price), sim.server.now_ms()))


def get_json(url: str) -> tuple[Any, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read()), dict(response.headers)


@pytest.mark.parametrize("exchange_id", ["binance", "binanceusdm"])
async def test_unmodified_ccxt_with_default_options_loads_and_trades(
    sim: SimulatorThread, exchange_id: str
) -> None:
    exchange = getattr(ccxt_async, exchange_id)({"apiKey": "demo", "secret": "demo"})
    point_ccxt_at(exchange, sim.url)
    symbol = SPOT if exchange_id == "binance" else PERP
    try:
        markets = await exchange.load_markets()
        assert {SPOT, PERP} <= set(markets) if exchange_id == "binance" else PERP in markets
        assert exchange.currencies["BTC"]["info"]["coin"] == "BTC"
        assert (await exchange.fetch_status())["status"] == "ok"
        balance = await exchange.fetch_balance()
        assert balance["USDT"]["free"] == 100000.0
        order = await exchange.create_order(symbol, "limit", "buy", 0.01, 59000)
        assert order["status"] == "open"
        fetched = await exchange.fetch_order(order["id"], symbol)
        assert fetched["id"] == order["id"]
        assert fetched["amount"] == 0.01
        canceled = await exchange.cancel_order(order["id"], symbol)
        assert canceled["status"] == "canceled"
    finally:
        await exchange.close()


def test_each_ticker_endpoint_has_its_own_shape(sim: SimulatorThread) -> None:
    price, _ = get_json(f"{sim.url}/api/v3/ticker/price?symbol=BTCUSDT")
    assert price == {"symbol": "BTCUSDT", "price": "60000"}
    book, _ = get_json(f"{sim.url}/api/v3/ticker/bookTicker?symbol=BTCUSDT")
    assert set(book) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert Decimal(book["bidPrice"]) < 60000 < Decimal(book["askPrice"])
    futures_price, _ = get_json(f"{sim.url}/fapi/v2/ticker/price?symbol=BTCUSDT")
    assert set(futures_price) == {"symbol", "price", "time"}
    rows, _ = get_json(f"{sim.url}/api/v3/ticker/price")
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    # The field sets of Binance's published answers.
    spot_day, _ = get_json(f"{sim.url}/api/v3/ticker/24hr?symbol=BTCUSDT")
    assert set(spot_day) == {
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
        "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
        "lastId", "count",
    }
    futures_day, _ = get_json(f"{sim.url}/fapi/v1/ticker/24hr?symbol=BTCUSDT")
    assert set(futures_day) == set(spot_day) - {
        "prevClosePrice", "bidPrice", "bidQty", "askPrice", "askQty",
    }
    futures_book, _ = get_json(f"{sim.url}/fapi/v1/ticker/bookTicker?symbol=BTCUSDT")
    assert set(futures_book) == {
        "symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time", "lastUpdateId",
    }
    spot_depth, _ = get_json(f"{sim.url}/api/v3/depth?symbol=BTCUSDT&limit=5")
    assert set(spot_depth) == {"lastUpdateId", "bids", "asks"}
    futures_depth, _ = get_json(f"{sim.url}/fapi/v1/depth?symbol=BTCUSDT&limit=5")
    assert set(futures_depth) == {"lastUpdateId", "E", "T", "bids", "asks"}
    [candle] = get_json(f"{sim.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1")[0]
    assert len(candle) == 12
    with pytest.raises(urllib.error.HTTPError) as unknown:
        get_json(f"{sim.url}/api/v3/ticker/price?symbol=NOPEUSDT")
    assert json.loads(unknown.value.read())["code"] == -1121


async def test_24h_ticker_statistics_are_consistent(sim: SimulatorThread) -> None:
    set_price(sim, "spot:BTCUSDT", "59000")  # below the opening price
    set_price(sim, "spot:BTCUSDT", "59500")
    day, _ = get_json(f"{sim.url}/api/v3/ticker/24hr?symbol=BTCUSDT")
    for key in ("priceChange", "priceChangePercent", "prevClosePrice", "count", "weightedAvgPrice",
                "firstId", "lastId", "lastQty"):
        assert key in day
    opening, high, low = (Decimal(day[k]) for k in ("openPrice", "highPrice", "lowPrice"))
    last = Decimal(day["lastPrice"])
    assert (opening, high, low, last) == (60000, 60000, 59000, 59500)
    assert Decimal(day["priceChange"]) == last - opening
    assert Decimal(day["priceChangePercent"]) == Decimal("-0.833")
    assert day["count"] == 0
    futures_day, _ = get_json(f"{sim.url}/fapi/v1/ticker/24hr?symbol=BTCUSDT")
    assert "bidPrice" not in futures_day  # USD-M's 24h ticker has no book fields
    assert Decimal(futures_day["openPrice"]) <= Decimal(futures_day["highPrice"])


async def test_order_book_trades_and_klines_endpoints(spot: Any, sim: SimulatorThread) -> None:
    resting = await spot.create_order(SPOT, "limit", "buy", 0.5, 59999.5)
    await spot.create_order(SPOT, "market", "buy", 0.01)
    book = await spot.fetch_order_book(SPOT, 5)
    # The account's resting order is in the book, as the best bid (inside the spread).
    assert book["bids"][0][0] == 59999.5
    assert book["bids"][0][1] == 0.5
    assert book["bids"][1][0] < 59999.5 < book["asks"][0][0]
    trades = await spot.fetch_trades(SPOT)
    assert [(t["side"], t["amount"]) for t in trades] == [("buy", 0.01)]
    raw, _ = get_json(f"{sim.url}/api/v3/trades?symbol=BTCUSDT")
    assert raw[0]["isBuyerMaker"] is False
    assert set(raw[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker",
                           "isBestMatch"}
    [aggregate], _ = get_json(f"{sim.url}/api/v3/aggTrades?symbol=BTCUSDT")
    assert set(aggregate) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    assert (aggregate["a"], aggregate["q"]) == (raw[0]["id"], "0.01")
    candles = await spot.fetch_ohlcv(SPOT, "1m", None, 3)
    assert len(candles) == 3
    assert candles[-1][5] == 0.01  # the fill's volume is in the current minute
    assert candles[-1][4] == 60000  # close: the current mark
    futures_candles, _ = get_json(f"{sim.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=2")
    assert len(futures_candles) == 2
    with pytest.raises(urllib.error.HTTPError) as bad:
        get_json(f"{sim.url}/api/v3/klines?symbol=BTCUSDT&interval=7m")
    assert json.loads(bad.value.read())["code"] == -1120
    assert resting["status"] == "open"


async def test_position_risk_uses_the_leverage_brackets(usdm: Any, sim: SimulatorThread) -> None:
    await usdm.create_order(PERP, "market", "buy", 0.1)  # notional 6,000: bracket 1
    [small] = await usdm.fapiPrivateV3GetPositionRisk({"symbol": "BTCUSDT"})
    notional = Decimal(small["notional"])
    assert Decimal(small["maintMargin"]) == notional * Decimal("0.004")
    assert small["liquidationPrice"] == "0"  # the wallet covers any move down
    await usdm.create_order(PERP, "market", "buy", 1.9)  # notional 120,000: bracket 2
    [big] = await usdm.fapiPrivateV3GetPositionRisk({"symbol": "BTCUSDT"})
    notional = Decimal(big["notional"])
    assert Decimal(big["maintMargin"]) == notional * Decimal("0.01") - 300
    wallet = Decimal(sim.state()["usdm"]["wallet"]["USDT"])
    size, entry = Decimal(big["positionAmt"]), Decimal(big["entryPrice"])
    # Binance's cross formula for a single long: (WB + cum - size*entry) / (size*MMR - size)
    expected = (wallet + 300 - size * entry) / (size * Decimal("0.01") - size)
    assert abs(Decimal(big["liquidationPrice"]) - expected) < Decimal("0.00000001")
    assert 0 < expected < entry
    assert big["maxNotionalValue"] == "10000000"  # leverage 10: bracket 2's cap
    [position] = await usdm.fetch_positions([PERP])
    assert position["liquidationPrice"] == pytest.approx(float(expected))
    account = await usdm.fapiPrivateV3GetAccount()
    [row] = account["positions"]
    assert "unRealizedProfit" not in row
    assert Decimal(row["unrealizedProfit"]) == Decimal(big["unRealizedProfit"])
    assert account["totalMaintMargin"] == big["maintMargin"]
    fills = await usdm.fapiPrivateGetUserTrades({"symbol": "BTCUSDT"})
    assert {f["marginAsset"] for f in fills} == {"USDT"}


async def test_spot_max_notional_is_a_filter_checked_before_the_balance(spot: Any) -> None:
    # 200 BTC at 50,000 is 10M USDT: above maxNotional (9M) and above the balance.
    with pytest.raises(ccxt_async.BadRequest, match=r"-1013.*NOTIONAL"):
        await spot.create_order(SPOT, "limit", "buy", 200, 50000)
    info = spot.market(SPOT)["info"]
    [notional] = [f for f in info["filters"] if f["filterType"] == "NOTIONAL"]
    assert notional["maxNotional"] == "9000000"



@pytest.mark.parametrize(
    ("quantity", "price", "code"),
    [
        ("0.01", "60000.15", -4014),  # two decimals are allowed, the tick is 0.10
        ("0.0015", "60000", -1111),  # quantityPrecision 3
        ("0.01", "60000.123", -1111),  # pricePrecision 2
        ("1001", "60000", -4005),  # maxQty 1000, and also far beyond the margin
        ("0", "60000", -4003),
    ],
)
async def test_futures_filter_failures_answer_binance_futures_codes(
    usdm: Any, quantity: str, price: str, code: int
) -> None:
    # The raw endpoint: ccxt's create_order would round amount and price first.
    with pytest.raises(ccxt_async.ExchangeError, match=str(code)):
        await usdm.fapiPrivatePostOrder({
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": quantity, "price": price,
        })


async def test_futures_position_is_capped_by_the_leverage_bracket(usdm: Any) -> None:
    # Leverage 10: bracket 2's cap, 10M; 170 BTC at 59,000 is 10.03M (and needs more
    # margin than the wallet has: the cap is checked first).
    with pytest.raises(ccxt_async.ExchangeError, match="-2027"):
        await usdm.create_order(PERP, "limit", "buy", 170, 59000)
    await usdm.set_leverage(125, PERP)  # bracket 1 only: 50,000
    with pytest.raises(ccxt_async.ExchangeError, match="-2027"):
        await usdm.create_order(PERP, "limit", "buy", 1, 59000)
    order = await usdm.create_order(PERP, "limit", "buy", 0.8, 59000)
    assert order["status"] == "open"


async def test_futures_reduce_only_still_checks_lot_size(usdm: Any) -> None:
    await usdm.create_order(PERP, "market", "buy", 0.01)
    with pytest.raises(ccxt_async.ExchangeError, match="-4005"):
        await usdm.fapiPrivatePostOrder({
            "symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "121",
            "reduceOnly": "true",
        })


def signed_get(sim: SimulatorThread, path: str, params: str) -> tuple[int, Any]:
    """A signed GET as Binance's official connector sends it (ccxt rounds recvWindow)."""
    query = f"{params}&timestamp={sim.server.now_ms()}"
    signature = hmac.new(b"demo", query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{sim.url}{path}?{query}&signature={signature}", headers={"X-MBX-APIKEY": "demo"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("recv_window", "status", "code"),
    [
        ("5000.5", 200, None),
        ("59999.999", 200, None),
        ("60000", 200, None),
        ("60000.001", 400, -1131),
        ("0", 400, -1131),
        ("5000.1234", 400, -1100),  # at most three decimals (microseconds)
        ("5e3", 400, -1100),
    ],
)
def test_recv_window_accepts_up_to_three_decimals(
    sim: SimulatorThread, recv_window: str, status: int, code: int | None
) -> None:
    answer_status, body = signed_get(sim, "/api/v3/account", f"recvWindow={recv_window}")
    assert answer_status == status
    if code is None:
        assert body["accountType"] == "SPOT"
    else:
        assert body["code"] == code


def hammer(url: str, times: int) -> None:
    for _ in range(times):
        get_json(url)


async def test_responses_carry_used_weight_and_429_says_when_to_retry(
    spot: Any, sim: SimulatorThread
) -> None:
    await spot.fetch_time()
    before = int(spot.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    await spot.fetch_balance()  # weight 20 on Binance
    after = int(spot.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    # The minute may roll over between the two calls; then the count starts again.
    assert after == before + 20 or after == 20
    sim.call(lambda: setattr(sim.server, "rate_limit_per_s", 1))
    with pytest.raises(urllib.error.HTTPError) as limited:
        hammer(f"{sim.url}/api/v3/time", 20)
    assert limited.value.code == 429
    assert int(limited.value.headers["Retry-After"]) >= 1
    assert "X-MBX-USED-WEIGHT-1M" in limited.value.headers
    assert json.loads(limited.value.read())["code"] == -1003
