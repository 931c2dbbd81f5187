"""24h statistics and candles from the engine's mark history, at chosen times (no waits)."""

from __future__ import annotations

from decimal import Decimal

from tradeguard.sim import Engine, SimulatorConfig
from tradeguard.sim.public_views import klines, ticker_24hr

HOUR = 3_600_000
T0 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR  # on the hour
KEY = "spot:BTCUSDT"


def engine_with_path() -> Engine:
    """60000 -> 61000 at T0, -> 59000 at T0+1h, -> 59500 at T0+2h; one fill at T0+2h."""
    engine = Engine(SimulatorConfig(seed=1, tick_interval_ms=0))
    engine.set_price(KEY, Decimal(61000), T0)
    engine.set_price(KEY, Decimal(59000), T0 + HOUR)
    engine.set_price(KEY, Decimal(59500), T0 + 2 * HOUR)
    engine.place_order(
        "spot", "BTCUSDT", side="BUY", order_type="MARKET", quantity=Decimal("0.1"),
        price=None, time_in_force=None, client_order_id=None, now_ms=T0 + 2 * HOUR,
    )
    return engine


def test_24h_window_rolls_forward() -> None:
    engine = engine_with_path()
    market = engine.markets[KEY]
    day = ticker_24hr(engine, "spot", market, T0 + 2 * HOUR + 1)
    assert (day["openPrice"], day["highPrice"], day["lowPrice"], day["lastPrice"]) == (
        "60000", "61000", "59000", "59500",
    )
    assert day["count"] == 1
    assert day["volume"] == "0.1"
    # 24h and a half later the first two moves and the fill have left the window.
    later = ticker_24hr(engine, "spot", market, T0 + 26 * HOUR + HOUR // 2)
    assert (later["openPrice"], later["highPrice"], later["lowPrice"]) == (
        "59500", "59500", "59500",
    )
    assert (later["count"], later["firstId"], later["lastId"]) == (0, -1, -1)
    assert later["priceChange"] == "0"


def test_hourly_candles_carry_the_path_and_the_fill() -> None:
    engine = engine_with_path()
    rows = klines(
        engine, "spot", {"symbol": "BTCUSDT", "interval": "1h", "limit": "4"},
        T0 + 2 * HOUR + 5,
    )
    assert [r[0] for r in rows] == [T0 - HOUR, T0, T0 + HOUR, T0 + 2 * HOUR]
    # open, high, low, close
    assert [r[1:5] for r in rows] == [
        ["60000", "60000", "60000", "60000"],  # before the first move: flat
        ["60000", "61000", "60000", "61000"],
        ["61000", "61000", "59000", "59000"],
        ["59000", "59505.95", "59000", "59500"],  # the market buy filled at the ask
    ]
    assert rows[-1][5] == "0.1"
    assert rows[-1][8] == 1
    assert rows[-1][9] == "0.1"  # the account bought as taker: taker buy volume
    since = klines(
        engine, "spot",
        {"symbol": "BTCUSDT", "interval": "1h", "startTime": str(T0 + 1), "limit": "10"},
        T0 + 2 * HOUR + 5,
    )
    assert [r[0] for r in since] == [T0 + HOUR, T0 + 2 * HOUR]
