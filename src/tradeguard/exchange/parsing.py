"""Pure translation of ccxt's unified dicts into tradeguard reports.

No I/O and no ccxt import: every function takes the dict ccxt returned (and, where a
timestamp may be missing, the caller's ``now_ns``) and returns a report, or raises
:class:`~tradeguard.errors.ExchangeError` naming the call and the missing or malformed
field. Tested on payloads recorded from the simulator (tests/exchange/payloads/).

The gateway sets ccxt's ``exchange.number = str``, so numbers arrive as the exchange's
own decimal text and are taken exactly. A float (some ccxt code paths compute one, and
payloads recorded in float mode) goes through ``Decimal(str(x))``, exact only up to 15
significant digits: ``919925047.08470054`` as a float is ``919925047.0847006``.

Every report is validated here, at the boundary: ids must be usable ids (an order id
of ``0`` or ``-1`` is a garbled answer, not an order), amounts and balances finite,
non-negative and below :data:`MAX_PLAUSIBLE_AMOUNT`, ``filled`` at most ``amount``,
statuses known. A report that fails is an ``ExchangeError`` naming the field and value;
it is never adopted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from tradeguard.domain.enums import LIMIT_PRICE_TYPES, MarketKind, OrderStatus, OrderType, Side
from tradeguard.domain.ids import Asset, ClientOrderId, ExchangeOrderId, Symbol, TradeId
from tradeguard.errors import ExchangeError
from tradeguard.exchange.reports import (
    BalanceReport,
    MarketInfo,
    OrderReport,
    PositionReport,
    TickerReport,
    TradeReport,
)

__all__ = [
    "MAX_PLAUSIBLE_AMOUNT",
    "PRECISION_DECIMAL_PLACES",
    "PRECISION_SIGNIFICANT_DIGITS",
    "PRECISION_TICK_SIZE",
    "map_order_status",
    "ms_to_ns",
    "parse_balances",
    "parse_market",
    "parse_order",
    "parse_position",
    "parse_ticker",
    "parse_trade",
    "to_decimal",
    "validate_id",
]

# ccxt's precision modes (ccxt.base.decimal_to_precision), repeated here so this
# module stays import-free of ccxt.
PRECISION_DECIMAL_PLACES = 2
PRECISION_SIGNIFICANT_DIGITS = 3
PRECISION_TICK_SIZE = 4

_NS_PER_MS = 1_000_000
_BALANCE_META_KEYS = frozenset({"info", "free", "used", "total", "timestamp", "datetime", "debt"})

MAX_PLAUSIBLE_AMOUNT: Final = Decimal(10) ** 18
"""No quantity, price or balance of any listed asset comes near this (the largest token
supplies are ~1e15): a bigger number is a garbled answer, never money to adopt."""

# Order statuses: ccxt's unified ones, and the exchange's own that ccxt passes through
# unmapped (ccxt's binance table lacks PENDING_NEW). None means "still working", split
# into OPEN / PARTIALLY_FILLED by the filled quantity. "canceling" (PENDING_CANCEL) can
# still fill, so it stays open until the exchange says otherwise; PENDING_NEW is
# accepted but not yet working (the pending leg of an order list): it exists and can be
# canceled. Binance documents, spot: NEW PENDING_NEW PARTIALLY_FILLED FILLED CANCELED
# PENDING_CANCEL REJECTED EXPIRED EXPIRED_IN_MATCH; USD-M: the same without the pending
# ones.
_WORKING = None
_STATUSES: Mapping[str, OrderStatus | None] = {
    # ccxt unified
    "open": _WORKING,
    "canceling": _WORKING,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    # Binance spot and USD-M, as the exchange spells them
    "NEW": _WORKING,
    "PENDING_NEW": _WORKING,
    "PARTIALLY_FILLED": _WORKING,
    "PENDING_CANCEL": _WORKING,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
# An id is printable text without blanks, of a sane length; a numeric id is a positive
# integer (Binance: orderId/tradeId start at 1; 0 and -1 are "none" placeholders).
_ID_TEXT = re.compile(r"[!-~]{1,64}")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# ccxt order types tradeguard understands; "limit_maker" is a post-only limit order.
# ccxt folds Binance's stop and take-profit types into "market" and "limit" (keeping
# the stop price in "triggerPrice"); some ccxt classes name trigger types themselves.
_ORDER_TYPES: Mapping[str, OrderType] = {
    "limit": OrderType.LIMIT,
    "limit_maker": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "stop_market": OrderType.STOP_MARKET,
    "stop_limit": OrderType.STOP_LIMIT,
    "stop_loss": OrderType.STOP_MARKET,
    "stop_loss_limit": OrderType.STOP_LIMIT,
    "take_profit_market": OrderType.TAKE_PROFIT_MARKET,
    "take_profit_limit": OrderType.TAKE_PROFIT_LIMIT,
    "trailing_stop_market": OrderType.TRAILING_STOP_MARKET,
}
# Binance's own type (the raw ``info.type``) and ccxt's folded type -> tradeguard's.
# TAKE_PROFIT is a market order on spot and a limit order on USD-M futures; ccxt's
# folded type (decided by the market kind) tells the two apart.
_BINANCE_TYPES: Mapping[tuple[str, str], OrderType] = {
    ("STOP_LOSS", "market"): OrderType.STOP_MARKET,  # spot
    ("STOP_LOSS_LIMIT", "limit"): OrderType.STOP_LIMIT,  # spot
    ("TAKE_PROFIT", "market"): OrderType.TAKE_PROFIT_MARKET,  # spot
    ("TAKE_PROFIT_LIMIT", "limit"): OrderType.TAKE_PROFIT_LIMIT,  # spot
    ("STOP_MARKET", "market"): OrderType.STOP_MARKET,  # futures
    ("STOP", "limit"): OrderType.STOP_LIMIT,  # futures
    ("TAKE_PROFIT_MARKET", "market"): OrderType.TAKE_PROFIT_MARKET,  # futures
    ("TAKE_PROFIT", "limit"): OrderType.TAKE_PROFIT_LIMIT,  # futures
    ("TRAILING_STOP_MARKET", "market"): OrderType.TRAILING_STOP_MARKET,  # futures
}
# (folded type, is a take profit) -> trigger type, for ccxt classes without raw types.
_FOLDED_TRIGGER: Mapping[tuple[OrderType, bool], OrderType] = {
    (OrderType.MARKET, False): OrderType.STOP_MARKET,
    (OrderType.LIMIT, False): OrderType.STOP_LIMIT,
    (OrderType.MARKET, True): OrderType.TAKE_PROFIT_MARKET,
    (OrderType.LIMIT, True): OrderType.TAKE_PROFIT_LIMIT,
}


def _fail(call: str, what: str, field: str, detail: str) -> ExchangeError:
    return ExchangeError(f"{call}: ccxt {what} field {field!r} {detail}")


def _field(data: Mapping[str, Any], field: str, *, call: str, what: str) -> Any:
    value = data.get(field)
    if value is None:
        raise _fail(call, what, field, "is missing")
    return value


def to_decimal(value: Any, *, field: str, call: str, what: str = "value") -> Decimal:
    """Turn a ccxt number (float, int, str or Decimal) into an exact ``Decimal``."""
    if value is None:
        raise _fail(call, what, field, "is missing")
    if isinstance(value, bool):  # bool is an int subclass; it is never a quantity
        raise _fail(call, what, field, f"is not a number: {value!r}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise _fail(call, what, field, f"is not a number: {value!r}") from exc
    if not result.is_finite():
        raise _fail(call, what, field, f"is not finite: {value!r}")
    return result


def _opt_decimal(value: Any, *, field: str, call: str, what: str) -> Decimal | None:
    return None if value is None else to_decimal(value, field=field, call=call, what=what)


def _quantity(value: Any, *, field: str, call: str, what: str, positive: bool = False) -> Decimal:
    """An amount, price or balance: finite, >= 0 (> 0 if ``positive``), plausible."""
    number = to_decimal(value, field=field, call=call, what=what)
    if number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise _fail(call, what, field, f"must be {bound}, got {value!r}")
    if number > MAX_PLAUSIBLE_AMOUNT:
        raise _fail(call, what, field, f"is implausibly large: {value!r}")
    return number


def _opt_quantity(value: Any, *, field: str, call: str, what: str) -> Decimal | None:
    return None if value is None else _quantity(value, field=field, call=call, what=what)


def _price_or_none(value: Any, *, field: str, call: str, what: str) -> Decimal | None:
    """A price that may be absent; exchanges send 0 (or "0") for "no price"."""
    number = _opt_quantity(value, field=field, call=call, what=what)
    return None if number is None or number == 0 else number


def validate_id(value: Any, *, field: str, call: str, what: str) -> str:
    """An exchange id (order or trade) as text; garbled or placeholder ids are errors.

    ccxt hands ids over as strings; an int is accepted too. Numeric ids must be positive
    integers, because Binance's ids are, and 0 / -1 are its "no id" placeholders.
    """
    if value is None or value == "":
        raise _fail(call, what, field, "is missing")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(call, what, field, f"is not a valid id: {value!r}")
    text = str(value)
    if _ID_TEXT.fullmatch(text) is None:
        raise _fail(call, what, field, f"is not a valid id: {value!r}")
    if _NUMERIC.fullmatch(text) is not None and (not text.isdigit() or int(text) <= 0):
        raise _fail(call, what, field, f"is not a valid id (positive integer): {value!r}")
    return text


def ms_to_ns(ms: Any, *, field: str = "timestamp", call: str = "parse") -> int:
    """Milliseconds (ccxt's unit) to integer nanoseconds."""
    if isinstance(ms, bool) or not isinstance(ms, int | float | str):
        raise _fail(call, "value", field, f"is not a timestamp: {ms!r}")
    try:
        value = int(ms)
    except (ValueError, OverflowError) as exc:
        raise _fail(call, "value", field, f"is not a timestamp: {ms!r}") from exc
    if value < 0:
        raise _fail(call, "value", field, f"is not a timestamp: {ms!r}")
    return value * _NS_PER_MS


def map_order_status(status: Any, filled: Decimal, *, call: str = "parse") -> OrderStatus:
    """Map ccxt's unified status, or the exchange's own status that ccxt passed through
    (every Binance spot and USD-M status), plus the filled quantity, to an
    :class:`OrderStatus`."""
    if not isinstance(status, str) or status not in _STATUSES:
        raise _fail(call, "order", "status", f"has an unknown value: {status!r}")
    mapped = _STATUSES[status]
    if mapped is None:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    return mapped


def _side(value: Any, *, call: str, what: str) -> Side:
    if value == "buy":
        return Side.BUY
    if value == "sell":
        return Side.SELL
    raise _fail(call, what, "side", f"has an unknown value: {value!r}")


def _increment(value: Any, precision_mode: int, *, field: str, call: str) -> Decimal:
    """A precision entry of a ccxt market as an absolute increment (tick or step)."""
    number = to_decimal(value, field=field, call=call, what="market")
    if precision_mode == PRECISION_TICK_SIZE:
        # A tick of 0 or below would pass every price as "on the tick".
        if number <= 0 or number > MAX_PLAUSIBLE_AMOUNT:
            raise _fail(call, "market", field, f"must be a positive increment, got {value!r}")
        return number
    if precision_mode == PRECISION_DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    raise _fail(call, "market", field, f"uses unsupported precision mode {precision_mode}")


def parse_market(
    market: Mapping[str, Any], *, precision_mode: int, call: str = "load_markets"
) -> MarketInfo | None:
    """A ccxt market as :class:`MarketInfo`; None for kinds tradeguard does not trade.

    Only spot markets and linear (USD-margined) perpetual swaps are supported; dated
    futures, options and inverse swaps are skipped, not errors.
    """
    symbol = _field(market, "symbol", call=call, what="market")
    where = f"{call} {symbol}"
    market_type = market.get("type")
    if market_type == "spot":
        kind = MarketKind.SPOT
    elif market_type == "swap" and market.get("linear") is True:
        kind = MarketKind.PERPETUAL
    else:
        return None
    precision = _field(market, "precision", call=where, what="market")
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    contract_size = market.get("contractSize")
    return MarketInfo(
        symbol=Symbol(str(symbol)),
        kind=kind,
        base=Asset(str(_field(market, "base", call=where, what="market"))),
        quote=Asset(str(_field(market, "quote", call=where, what="market"))),
        settle=None if market.get("settle") is None else Asset(str(market["settle"])),
        tick_size=_increment(
            precision.get("price"), precision_mode, field="precision.price", call=where
        ),
        step_size=_increment(
            precision.get("amount"), precision_mode, field="precision.amount", call=where
        ),
        min_amount=_opt_quantity(
            amount_limits.get("min"), field="limits.amount.min", call=where, what="market"
        ),
        min_notional=_opt_quantity(
            cost_limits.get("min"), field="limits.cost.min", call=where, what="market"
        ),
        contract=bool(market.get("contract")),
        linear=market.get("linear"),
        inverse=market.get("inverse"),
        contract_size=Decimal(1)
        if contract_size is None
        else to_decimal(contract_size, field="contractSize", call=where, what="market"),
        active=market.get("active") is not False,
    )


def _client_order_id(order: Mapping[str, Any]) -> ClientOrderId | None:
    # Binance spot answers a cancel with the cancel request's own clientOrderId and puts
    # the order's id in origClientOrderId: prefer the original where it is given.
    info = order.get("info")
    if isinstance(info, Mapping) and info.get("origClientOrderId"):
        return ClientOrderId(str(info["origClientOrderId"]))
    value = order.get("clientOrderId")
    return None if value in (None, "") else ClientOrderId(str(value))


def _trigger_or_none(value: Any, *, field: str, where: str) -> Decimal | None:
    """A trigger price that may be absent (Binance sends "0" or "" for none)."""
    number = _opt_decimal(value if value != "" else None, field=field, call=where, what="order")
    if number is None or number == 0:
        return None
    if number < 0:
        raise _fail(where, "order", field, f"must be > 0, got {value!r}")
    return number


def _order_terms(order: Mapping[str, Any], *, where: str) -> tuple[OrderType, Decimal | None]:
    """The order's type and trigger price, with stops and take profits told apart.

    Binance's raw type in ``info`` is read first (ccxt folds it away); otherwise a
    ``triggerPrice`` (or ``stopPrice``) on a folded "market"/"limit" order marks a stop,
    or a take profit when ccxt also gives ``takeProfitPrice``. A trailing stop's
    trigger is its activation price (its moving stop price is not a term of the order).
    """
    raw_type = order.get("type")
    if not isinstance(raw_type, str) or raw_type not in _ORDER_TYPES:
        raise _fail(where, "order", "type", f"has an unsupported value: {raw_type!r}")
    folded = _ORDER_TYPES[raw_type]
    raw_info = order.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    trigger_value = order.get("triggerPrice")
    if trigger_value is None:
        trigger_value = order.get("stopPrice")
    trigger = _trigger_or_none(trigger_value, field="triggerPrice", where=where)
    # Plain orders name it "type"; algo (conditional) orders "orderType"; portfolio
    # margin strategies "strategyType".
    named = (
        _BINANCE_TYPES.get((info[key], raw_type))
        for key in ("type", "orderType", "strategyType")
        if isinstance(info.get(key), str)
    )
    binance_type = next((found for found in named if found is not None), None)
    if binance_type is not None:
        order_type = binance_type
    elif trigger is not None and folded in (OrderType.MARKET, OrderType.LIMIT):
        take_profit = order.get("takeProfitPrice") is not None
        order_type = _FOLDED_TRIGGER[(folded, take_profit)]
    else:
        order_type = folded
    if order_type is OrderType.TRAILING_STOP_MARKET:
        activation = info.get("activatePrice", info.get("activationPrice"))
        trigger = _trigger_or_none(activation, field="info.activatePrice", where=where)
    elif order_type is OrderType.LIMIT or order_type is OrderType.MARKET:
        trigger = None
    return order_type, trigger


def parse_order(order: Mapping[str, Any], *, now_ns: int, call: str = "fetch_order") -> OrderReport:
    """A ccxt order dict as :class:`OrderReport`.

    ``now_ns`` stands in for ``updated_ns`` only when the exchange gives no timestamp.
    A missing order id is an error here; ``create_order`` checks for it first because
    there it means "outcome unknown", not "bad payload".
    """
    what = "order"
    order_id = validate_id(order.get("id"), field="id", call=call, what=what)
    where = f"{call} order {order_id}"
    raw_filled = order.get("filled")
    filled = _quantity(0 if raw_filled is None else raw_filled, field="filled", call=where,
                       what=what)
    amount = _quantity(order.get("amount"), field="amount", call=where, what=what, positive=True)
    if filled > amount:
        raise _fail(where, what, "filled", f"{filled} is above the amount {amount}")
    order_type, trigger_price = _order_terms(order, where=where)
    updated_ms = next(
        (
            order[key]
            for key in ("lastUpdateTimestamp", "lastTradeTimestamp", "timestamp")
            if order.get(key) is not None
        ),
        None,
    )
    average = order.get("average")
    # ccxt fills a market order's price from its average; it has no limit price (nor
    # has a stop or take profit that executes at market: Binance sends price 0).
    raw_price = order.get("price") if order_type in LIMIT_PRICE_TYPES else None
    return OrderReport(
        client_order_id=_client_order_id(order),
        exchange_order_id=ExchangeOrderId(str(order_id)),
        symbol=Symbol(str(_field(order, "symbol", call=where, what=what))),
        side=_side(order.get("side"), call=where, what=what),
        type=order_type,
        status=map_order_status(order.get("status"), filled, call=where),
        # Some exchanges report 0 for "no price".
        price=_price_or_none(raw_price, field="price", call=where, what=what),
        amount=amount,
        filled=filled,
        # ccxt computes average = cost / filled; before a fill it is 0 or None.
        average=_price_or_none(average, field="average", call=where, what=what),
        reduce_only=order.get("reduceOnly") is True,
        updated_ns=now_ns if updated_ms is None else ms_to_ns(updated_ms, call=where),
        trigger_price=trigger_price,
    )


def parse_trade(trade: Mapping[str, Any], *, call: str = "fetch_my_trades") -> TradeReport:
    """A ccxt trade dict (one of our fills) as :class:`TradeReport`."""
    what = "trade"
    trade_id = validate_id(trade.get("id"), field="id", call=call, what=what)
    where = f"{call} trade {trade_id}"
    fee = trade.get("fee") or {}
    fee_cost = fee.get("cost")
    info = trade.get("info")
    client_order_id = info.get("clientOrderId") if isinstance(info, Mapping) else None
    taker_or_maker = trade.get("takerOrMaker")
    return TradeReport(
        trade_id=TradeId(str(trade_id)),
        exchange_order_id=ExchangeOrderId(
            validate_id(trade.get("order"), field="order", call=where, what=what)
        ),
        client_order_id=None if not client_order_id else ClientOrderId(str(client_order_id)),
        symbol=Symbol(str(_field(trade, "symbol", call=where, what=what))),
        side=_side(trade.get("side"), call=where, what=what),
        price=_quantity(trade.get("price"), field="price", call=where, what=what, positive=True),
        amount=_quantity(trade.get("amount"), field="amount", call=where, what=what,
                         positive=True),
        fee=Decimal(0) if fee_cost is None else _fee(fee_cost, call=where),
        fee_asset=None if fee.get("currency") is None else Asset(str(fee["currency"])),
        is_maker=None if taker_or_maker is None else taker_or_maker == "maker",
        ts_ns=ms_to_ns(_field(trade, "timestamp", call=where, what=what), call=where),
    )


def _fee(value: Any, *, call: str) -> Decimal:
    # A fee may be negative (a maker rebate), but never garbage.
    fee = to_decimal(value, field="fee.cost", call=call, what="trade")
    if abs(fee) > MAX_PLAUSIBLE_AMOUNT:
        raise _fail(call, "trade", "fee.cost", f"is implausibly large: {value!r}")
    return fee


def parse_balances(
    balance: Mapping[str, Any], *, kind: MarketKind, call: str = "fetch_balance"
) -> list[BalanceReport]:
    """A ccxt balance dict as one :class:`BalanceReport` per asset, sorted by asset.

    A missing ``free`` or ``used`` is derived from the other two when they are given
    (some exchanges report only two of the three); a missing ``total`` with no way to
    derive it is an error naming the asset. Every figure is finite, plausible and not
    negative, except the ``free`` margin of a perpetual account: Binance's
    ``availableBalance`` goes below zero when unrealised losses exceed the margin.
    """
    reports = []
    for asset in sorted(balance):
        entry = balance[asset]
        if asset in _BALANCE_META_KEYS or not isinstance(entry, Mapping):
            continue
        where = f"{call} {asset}"
        raw_free = entry.get("free")
        if kind is MarketKind.PERPETUAL and raw_free is not None:
            free: Decimal | None = _signed(raw_free, field="free", call=where, what="balance")
        else:
            free = _opt_quantity(raw_free, field="free", call=where, what="balance")
        used = _opt_quantity(entry.get("used"), field="used", call=where, what="balance")
        total = _opt_quantity(entry.get("total"), field="total", call=where, what="balance")
        if total is None and free is not None and used is not None:
            total = free + used
        if total is None:
            raise _fail(where, "balance", "total", "is missing")
        if free is None and used is not None:
            free = total - used
        if used is None and free is not None:
            used = total - free
        if free is None or used is None:
            raise _fail(where, "balance", "free", "and 'used' are both missing")
        if used < 0 or (free < 0 and kind is not MarketKind.PERPETUAL):
            negative = "used" if used < 0 else "free"
            raise _fail(
                where, "balance", negative,
                f"derived from total {total} is negative (free {free}, used {used})",
            )
        reports.append(
            BalanceReport(asset=Asset(asset), free=free, used=used, total=total, kind=kind)
        )
    return reports


def parse_position(position: Mapping[str, Any], *, call: str = "fetch_positions") -> PositionReport:
    """A ccxt position dict as :class:`PositionReport` with a signed base-quantity size."""
    what = "position"
    symbol = Symbol(str(_field(position, "symbol", call=call, what=what)))
    where = f"{call} {symbol}"
    # ccxt reports the size unsigned in "contracts" and the direction in "side".
    contracts = _quantity(
        abs(to_decimal(position.get("contracts"), field="contracts", call=where, what=what)),
        field="contracts", call=where, what=what,
    )
    raw_size = position.get("contractSize")
    contract_size = _quantity(
        1 if raw_size is None else raw_size, field="contractSize", call=where, what=what,
        positive=True,
    )
    size = abs(contracts) * contract_size
    side = position.get("side")
    if side == "short":
        size = -size
    elif side != "long" and size != 0:
        raise _fail(where, what, "side", f"has an unknown value: {side!r}")
    return PositionReport(
        symbol=symbol,
        size=size,
        entry_price=_price_or_none(
            position.get("entryPrice"), field="entryPrice", call=where, what=what
        )
        or Decimal(0),
        mark_price=_price_or_none(
            position.get("markPrice"), field="markPrice", call=where, what=what
        ),
        unrealized_pnl=_pnl(position.get("unrealizedPnl"), call=where),
        leverage=_price_or_none(position.get("leverage"), field="leverage", call=where,
                                what=what),
    )


def _signed(value: Any, *, field: str, call: str, what: str) -> Decimal:
    """A figure that may be negative (a loss, a margin shortfall): finite, plausible."""
    number = to_decimal(value, field=field, call=call, what=what)
    if abs(number) > MAX_PLAUSIBLE_AMOUNT:
        raise _fail(call, what, field, f"is implausibly large: {value!r}")
    return number


def _pnl(value: Any, *, call: str) -> Decimal:
    if value is None:
        return Decimal(0)
    return _signed(value, field="unrealizedPnl", call=call, what="position")


def parse_ticker(
    ticker: Mapping[str, Any], *, now_ns: int, call: str = "fetch_ticker"
) -> TickerReport:
    """A ccxt ticker dict as :class:`TickerReport`; ``now_ns`` when it has no timestamp.

    A ticker with neither bid/ask nor last price is an error: it says nothing.
    """
    what = "ticker"
    symbol = Symbol(str(_field(ticker, "symbol", call=call, what=what)))
    where = f"{call} {symbol}"
    # Some exchanges send 0 for "no quote"; treat it as absent, never as a price.
    bid = _price_or_none(ticker.get("bid"), field="bid", call=where, what=what)
    ask = _price_or_none(ticker.get("ask"), field="ask", call=where, what=what)
    last = _price_or_none(ticker.get("last"), field="last", call=where, what=what)
    if last is None and (bid is None or ask is None):
        raise _fail(where, what, "last", "is missing and bid/ask are incomplete")
    if bid is not None and ask is not None and bid > ask:
        raise _fail(where, what, "bid", f"{bid} is above ask {ask}")
    timestamp = ticker.get("timestamp")
    return TickerReport(
        symbol=symbol,
        bid=bid,
        ask=ask,
        last=last,
        ts_ns=now_ns if timestamp is None else ms_to_ns(timestamp, call=where),
    )
