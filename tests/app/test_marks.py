"""Equity at the mark prices, and the charts' ring buffer (pure: a state built from events)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tradeguard.app.marks import (
    Mark,
    MarkBook,
    Sample,
    Series,
    symbols_to_mark,
    unrealized_pnl,
    value_state,
)
from tradeguard.domain.enums import MarketKind
from tradeguard.domain.events import BalanceUpdated, InstrumentRegistered, PositionCorrected
from tradeguard.domain.state import SessionState


def _state() -> SessionState:
    state = SessionState()
    events = [
        InstrumentRegistered(ts_ns=1, symbol="BTC/USDT", kind=MarketKind.SPOT, base="BTC",
                             quote="USDT"),
        InstrumentRegistered(ts_ns=1, symbol="ETH/USDT:USDT", kind=MarketKind.PERPETUAL,
                             base="ETH", quote="USDT", settle="USDT"),
        BalanceUpdated(ts_ns=2, asset="USDT", free=Decimal(1000), used=Decimal(0), cause="t"),
        BalanceUpdated(ts_ns=2, asset="BTC", free=Decimal("0.5"), used=Decimal(0), cause="t"),
        BalanceUpdated(ts_ns=2, asset="DOGE", free=Decimal(7), used=Decimal(0), cause="t"),
        PositionCorrected(ts_ns=3, symbol="ETH/USDT:USDT", size=Decimal(-2),
                          entry_price=Decimal(2000), cause="t"),
    ]
    for seq, event in enumerate(events, start=1):
        state.apply(event, seq)
    return state


def test_equity_is_balances_at_their_marks_plus_perpetual_pnl() -> None:
    state = _state()
    book = MarkBook()
    book.marks["BTC/USDT"] = Mark(Decimal(30000), 5)
    book.marks["ETH/USDT:USDT"] = Mark(Decimal(1900), 5)
    valuation = value_state(state, book)
    # 1000 USDT + 0.5 BTC at 30000 + a short of 2 ETH from 2000 at 1900 (+200).
    assert valuation.asset == "USDT"
    assert valuation.equity == Decimal(1000) + Decimal(15000) + Decimal(200)
    assert valuation.unpriced == ("DOGE",)  # no DOGE/USDT mark: left out, and said so


def test_unknown_marks_leave_things_out_never_guess() -> None:
    state = _state()
    valuation = value_state(state, MarkBook())
    assert valuation.equity == Decimal(1000)  # only the quote asset is known
    assert set(valuation.unpriced) == {"BTC", "DOGE", "ETH/USDT:USDT"}
    assert value_state(SessionState(), MarkBook()).equity is None


def test_the_symbols_to_mark_include_listed_balance_pairs_only() -> None:
    state = _state()
    wanted = symbols_to_mark(state, listed={"BTC/USDT", "ETH/USDT:USDT"})
    assert wanted == ["BTC/USDT", "ETH/USDT:USDT"]  # DOGE/USDT is not listed
    assert "DOGE/USDT" in symbols_to_mark(state, listed={"DOGE/USDT"})


@given(st.decimals(-100, 100, places=3), st.decimals(1, 10_000, places=2),
       st.decimals(1, 10_000, places=2))
def test_unrealized_pnl_is_zero_at_the_entry_and_signed_by_side(
    size: Decimal, entry: Decimal, mark: Decimal,
) -> None:
    assert unrealized_pnl(size, entry, entry) == 0
    pnl = unrealized_pnl(size, entry, mark)
    assert pnl is not None
    assert (pnl > 0) == (size != 0 and (mark > entry) == (size > 0) and mark != entry)
    assert unrealized_pnl(size, entry, None) is None


def test_the_series_keeps_the_newest_samples_in_columns() -> None:
    series = Series(capacity=3)
    for i in range(5):
        series.add(Sample(ts_ns=i, equity=None if i == 3 else Decimal(i),
                          journal_append_p99_s=i / 10))
    assert len(series) == 3
    assert series.columns() == {
        "ts_ns": [2, 3, 4], "equity": ["2", None, "4"],
        "journal_append_p99_s": [0.2, 0.3, 0.4],
    }
