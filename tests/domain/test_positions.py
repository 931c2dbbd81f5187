"""Position netting math: re-average, partial close, flip through zero, shorts, fees."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from tradeguard.domain import Asset, Side, Symbol
from tradeguard.domain.positions import Position, apply_fill, correct_position, flat_position
from tradeguard.errors import DomainError

SYM = Symbol("BTC/USDT:USDT")


def _fill(pos: Position, side: Side, amount: str, price: str, fee: str = "0") -> Position:
    return apply_fill(
        pos,
        side=side,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal(fee),
        fee_asset=Asset("USDT"),
        ts_ns=1,
    )


def test_open_long_takes_the_fill_price() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "2", "100")
    assert (pos.size, pos.entry_price, pos.realized_pnl) == (2, 100, 0)


def test_adding_in_the_same_direction_re_averages_the_entry() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "1", "100")
    pos = _fill(pos, Side.BUY, "3", "120")
    assert pos.size == 4
    assert pos.entry_price == Decimal(115)  # (100*1 + 120*3) / 4
    assert pos.realized_pnl == 0


def test_partial_close_of_a_long_realizes_pnl_and_keeps_the_entry() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "4", "100")
    pos = _fill(pos, Side.SELL, "1.5", "110")
    assert pos.size == Decimal("2.5")
    assert pos.entry_price == 100
    assert pos.realized_pnl == Decimal(15)  # (110 - 100) * 1.5


def test_full_close_goes_flat_with_zero_entry() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "2", "100")
    pos = _fill(pos, Side.SELL, "2", "90")
    assert pos.is_flat
    assert pos.entry_price == 0
    assert pos.realized_pnl == Decimal(-20)


def test_flip_through_zero_realizes_the_closed_part_and_opens_the_rest() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "1", "100")
    pos = _fill(pos, Side.SELL, "3", "130")
    assert pos.size == -2
    assert pos.entry_price == 130
    assert pos.realized_pnl == 30  # only the 1 closed long counts


def test_short_side_profits_when_price_falls() -> None:
    pos = _fill(flat_position(SYM), Side.SELL, "2", "100")
    pos = _fill(pos, Side.SELL, "2", "110")
    assert (pos.size, pos.entry_price) == (-4, 105)
    pos = _fill(pos, Side.BUY, "1", "95")
    assert pos.size == -3
    assert pos.entry_price == 105
    assert pos.realized_pnl == 10  # (95 - 105) * 1 * -1
    pos = _fill(pos, Side.BUY, "5", "100")  # flip short -> long
    assert (pos.size, pos.entry_price) == (2, 100)
    assert pos.realized_pnl == 25  # 10 + (100 - 105) * 3 * -1


def test_fees_are_summed_per_asset_and_not_netted() -> None:
    pos = flat_position(SYM)
    pos = apply_fill(
        pos,
        side=Side.BUY,
        price=Decimal(100),
        amount=Decimal(1),
        fee=Decimal("0.1"),
        fee_asset=Asset("USDT"),
        ts_ns=1,
    )
    pos = apply_fill(
        pos,
        side=Side.BUY,
        price=Decimal(100),
        amount=Decimal(1),
        fee=Decimal("0.002"),
        fee_asset=Asset("BNB"),
        ts_ns=2,
    )
    pos = apply_fill(
        pos,
        side=Side.SELL,
        price=Decimal(100),
        amount=Decimal(1),
        fee=Decimal("0.1"),
        fee_asset=Asset("USDT"),
        ts_ns=3,
    )
    assert pos.fees_paid == {"USDT": Decimal("0.2"), "BNB": Decimal("0.002")}
    assert pos.realized_pnl == 0
    assert pos.size == 1


def test_math_ignores_the_host_decimal_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        pos = _fill(flat_position(SYM), Side.BUY, "1.23456", "65432.1")
        pos = _fill(pos, Side.BUY, "1", "65432.7")
    assert pos.size == Decimal("2.23456")
    assert str(pos.entry_price).startswith("65432.36")


def test_correction_sets_size_and_entry_and_keeps_pnl() -> None:
    pos = _fill(flat_position(SYM), Side.BUY, "1", "100")
    pos = _fill(pos, Side.SELL, "0.5", "120", fee="1")
    corrected = correct_position(pos, size=Decimal("-1"), entry_price=Decimal(90), ts_ns=7)
    assert (corrected.size, corrected.entry_price) == (-1, 90)
    assert corrected.realized_pnl == pos.realized_pnl == 10
    assert corrected.fees_paid == pos.fees_paid
    flat = correct_position(pos, size=Decimal(0), entry_price=Decimal(90), ts_ns=8)
    assert flat.entry_price == 0


def test_correction_with_a_negative_entry_is_refused() -> None:
    with pytest.raises(DomainError, match="BTC/USDT:USDT"):
        correct_position(flat_position(SYM), size=Decimal(1), entry_price=Decimal(-1), ts_ns=1)
