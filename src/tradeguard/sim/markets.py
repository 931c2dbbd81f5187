"""Symbols the simulator trades, their Binance filters, and the exchangeInfo documents.

The exchangeInfo JSON is built once per simulator (it never changes while it runs), so
``load_markets`` costs the server nothing but a write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from tradeguard.errors import SimulatorRejectionError

__all__ = [
    "DEFAULT_MARKETS",
    "USDM_BRACKETS",
    "Bracket",
    "InfoVenue",
    "Market",
    "Venue",
    "bracket_for_notional",
    "check_order_filters",
    "exchange_info_json",
    "fmt",
    "max_notional_for_leverage",
]

Venue = Literal["spot", "usdm"]
# exchangeInfo documents served: the two venues with markets, and coin-margined futures
# (no markets; ccxt's default load_markets asks for them).
InfoVenue = Literal["spot", "usdm", "coinm"]

# Order types each venue accepts; ccxt refuses locally an order type missing here.
SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
USDM_ORDER_TYPES = ["LIMIT", "MARKET"]
USDM_TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX"]


class Market(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable symbol on one venue, with the filters Binance publishes for it."""

    venue: Venue
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    initial_price: Decimal
    base_precision: int = 8
    quote_precision: int = 8
    # Spot NOTIONAL filter's maxNotional (limit orders only: applyMaxToMarket false).
    max_notional: Decimal = Decimal(9000000)
    # USD-M pricePrecision: decimals a price may have (None: those of the tick size).
    # Binance's BTCUSDT perpetual allows 2 with a tick of 0.10, so a price can have
    # the precision and still miss the tick (-4014).
    price_precision: int | None = None

    @property
    def key(self) -> str:
        """Venue-qualified name, unique across venues (``spot:BTCUSDT``)."""
        return f"{self.venue}:{self.symbol}"

    @property
    def price_decimals(self) -> int:
        """USD-M pricePrecision."""
        if self.price_precision is not None:
            return self.price_precision
        return _decimals(self.tick_size)

    @property
    def quantity_decimals(self) -> int:
        """USD-M quantityPrecision (the decimals of the step size)."""
        return _decimals(self.step_size)


def _spot(
    symbol: str, base: str, *, price: str, tick: str, step: str, max_qty: str
) -> Market:
    return Market(
        venue="spot",
        symbol=symbol,
        base=base,
        quote="USDT",
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        market_max_qty=Decimal(max_qty),
        min_price=Decimal(tick),
        max_price=Decimal(1000000),
        min_notional=Decimal(5),
        initial_price=Decimal(price),
    )


DEFAULT_MARKETS: tuple[Market, ...] = (
    _spot("BTCUSDT", "BTC", price="60000.00", tick="0.01", step="0.00001", max_qty="9000"),
    _spot("ETHUSDT", "ETH", price="3000.00", tick="0.01", step="0.0001", max_qty="9000"),
    Market(
        venue="usdm",
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.10"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(1000),
        market_max_qty=Decimal(120),
        min_price=Decimal("556.80"),
        max_price=Decimal(4529764),
        min_notional=Decimal(100),
        initial_price=Decimal("60000.0"),
        base_precision=8,
        quote_precision=8,
        price_precision=2,
    ),
    Market(
        venue="usdm",
        symbol="ETHUSDT",
        base="ETH",
        quote="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(10000),
        market_max_qty=Decimal(2000),
        min_price=Decimal("39.86"),
        max_price=Decimal(306177),
        min_notional=Decimal(20),
        initial_price=Decimal("3000.00"),
    ),
)


class Bracket(msgspec.Struct, frozen=True, kw_only=True):
    """One USD-M leverage bracket: notional range, maximum leverage, maintenance rate."""

    bracket: int
    initial_leverage: int
    notional_floor: Decimal
    notional_cap: Decimal
    maint_margin_ratio: Decimal
    # Maintenance amount: makes maintenance margin continuous across brackets.
    cum: Decimal


# The brackets of every simulated perpetual (GET /fapi/v1/leverageBracket), and what
# maintenance margin, liquidation price and maximum position are computed from.
USDM_BRACKETS: tuple[Bracket, ...] = (
    Bracket(bracket=1, initial_leverage=125, notional_floor=Decimal(0),
            notional_cap=Decimal(50000), maint_margin_ratio=Decimal("0.004"), cum=Decimal(0)),
    Bracket(bracket=2, initial_leverage=50, notional_floor=Decimal(50000),
            notional_cap=Decimal(10000000), maint_margin_ratio=Decimal("0.01"),
            cum=Decimal(300)),
)


def bracket_for_notional(notional: Decimal) -> Bracket:
    """The bracket a position of ``notional`` (absolute, quote asset) falls in."""
    for bracket in USDM_BRACKETS:
        if notional < bracket.notional_cap:
            return bracket
    return USDM_BRACKETS[-1]


def max_notional_for_leverage(leverage: int) -> Decimal:
    """The largest position notional allowed at ``leverage`` (maxNotionalValue)."""
    allowed = [b.notional_cap for b in USDM_BRACKETS if b.initial_leverage >= leverage]
    return max(allowed) if allowed else Decimal(0)


def fmt(value: Decimal) -> str:
    """Binance-style decimal string: plain notation, no exponent, no trailing zeros."""
    if not value:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _filter_rejection(name: str) -> SimulatorRejectionError:
    return SimulatorRejectionError(-1013, f"Filter failure: {name}")


def check_order_filters(
    market: Market, order_type: str, quantity: Decimal, price: Decimal | None, mark: Decimal,
    *, reduce_only: bool = False,
) -> None:
    """Apply the symbol's filters as Binance does, before any balance is looked at.

    Spot answers -1013 (``Filter failure: NAME``); USD-M answers its own codes: -1111
    (too many decimals), -4014 (price off the tick), -4005 (quantity above the
    maximum), -4164 (notional below the minimum, unless reduce-only) and their kin.
    """
    if market.venue == "usdm":
        _check_usdm_filters(market, order_type, quantity, price, mark, reduce_only=reduce_only)
        return
    if quantity <= 0:
        raise SimulatorRejectionError(-1013, "Invalid quantity.")
    if price is not None:
        if price <= 0:
            raise SimulatorRejectionError(-1013, "Invalid price.")
        if price < market.min_price or price > market.max_price:
            raise _filter_rejection("PRICE_FILTER")
        if (price - market.min_price) % market.tick_size:
            raise _filter_rejection("PRICE_FILTER")
    max_qty = market.market_max_qty if order_type == "MARKET" else market.max_qty
    if quantity < market.min_qty or quantity > max_qty:
        raise _filter_rejection("MARKET_LOT_SIZE" if order_type == "MARKET" else "LOT_SIZE")
    if (quantity - market.min_qty) % market.step_size:
        raise _filter_rejection("LOT_SIZE")
    notional = quantity * (price if price is not None else mark)
    # applyMinToMarket true, applyMaxToMarket false (as exchangeInfo says).
    if notional < market.min_notional or (price is not None and notional > market.max_notional):
        raise _filter_rejection("NOTIONAL")


def _too_precise() -> SimulatorRejectionError:
    return SimulatorRejectionError(-1111, "Precision is over the maximum defined for this asset.")


def _check_usdm_filters(
    market: Market, order_type: str, quantity: Decimal, price: Decimal | None, mark: Decimal,
    *, reduce_only: bool,
) -> None:
    if quantity <= 0:
        raise SimulatorRejectionError(-4003, "Quantity less than or equal to zero.")
    if _decimals(quantity) > market.quantity_decimals:
        raise _too_precise()
    if price is not None:
        if price <= 0:
            raise SimulatorRejectionError(-4001, "Price less than 0.")
        if _decimals(price) > market.price_decimals:
            raise _too_precise()
        if price < market.min_price:
            raise SimulatorRejectionError(-4013, "Price less than min price.")
        if price > market.max_price:
            raise SimulatorRejectionError(-4002, "Price greater than max price.")
        if (price - market.min_price) % market.tick_size:
            raise SimulatorRejectionError(-4014, "Price not increased by tick size.")
    if quantity < market.min_qty:
        raise SimulatorRejectionError(-4004, "Quantity less than min quantity.")
    max_qty = market.market_max_qty if order_type == "MARKET" else market.max_qty
    if quantity > max_qty:
        raise SimulatorRejectionError(-4005, "Quantity greater than max quantity.")
    if (quantity - market.min_qty) % market.step_size:
        raise SimulatorRejectionError(-4023, "Quantity not increased by step size.")
    notional = quantity * (price if price is not None else mark)
    if notional < market.min_notional and not reduce_only:
        raise SimulatorRejectionError(
            -4164,
            f"Order's notional must be no smaller than {fmt(market.min_notional)} "
            "(unless you choose reduce only).",
        )


def _spot_symbol_info(market: Market) -> dict[str, Any]:
    return {
        "symbol": market.symbol,
        "status": "TRADING",
        "baseAsset": market.base,
        "baseAssetPrecision": market.base_precision,
        "quoteAsset": market.quote,
        "quotePrecision": market.quote_precision,
        "quoteAssetPrecision": market.quote_precision,
        "baseCommissionPrecision": market.base_precision,
        "quoteCommissionPrecision": market.quote_precision,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(market.min_price),
                "maxPrice": fmt(market.max_price),
                "tickSize": fmt(market.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(market.min_qty),
                "maxQty": fmt(market.max_qty),
                "stepSize": fmt(market.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0",
                "maxQty": fmt(market.market_max_qty),
                "stepSize": "0",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(market.min_notional),
                "applyMinToMarket": True,
                "maxNotional": fmt(market.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
    }


def _usdm_symbol_info(market: Market) -> dict[str, Any]:
    return {
        "symbol": market.symbol,
        "pair": market.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": market.base,
        "quoteAsset": market.quote,
        "marginAsset": market.quote,
        "pricePrecision": market.price_decimals,
        "quantityPrecision": market.quantity_decimals,
        "baseAssetPrecision": market.base_precision,
        "quotePrecision": market.quote_precision,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(market.min_price),
                "maxPrice": fmt(market.max_price),
                "tickSize": fmt(market.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(market.min_qty),
                "maxQty": fmt(market.max_qty),
                "stepSize": fmt(market.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(market.min_qty),
                "maxQty": fmt(market.market_max_qty),
                "stepSize": fmt(market.step_size),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(market.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": USDM_ORDER_TYPES,
        "timeInForce": USDM_TIME_IN_FORCE,
    }


def exchange_info_json(
    venue: InfoVenue, markets: tuple[Market, ...], server_time_ms: int
) -> bytes:
    """The whole exchangeInfo document of one venue, encoded once."""
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    ]
    doc: dict[str, Any] = {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": limits,
        "exchangeFilters": [],
    }
    if venue == "spot":
        doc["symbols"] = [_spot_symbol_info(m) for m in markets if m.venue == "spot"]
    elif venue == "coinm":
        doc["symbols"] = []
    else:
        doc["futuresType"] = "U_MARGINED"
        doc["assets"] = [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}
        ]
        doc["symbols"] = [_usdm_symbol_info(m) for m in markets if m.venue == "usdm"]
    return msgspec.json.encode(doc)
