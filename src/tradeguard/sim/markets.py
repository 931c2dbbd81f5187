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
    "Market",
    "Venue",
    "check_order_filters",
    "exchange_info_json",
    "fmt",
]

Venue = Literal["spot", "usdm"]

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

    @property
    def key(self) -> str:
        """Venue-qualified name, unique across venues (``spot:BTCUSDT``)."""
        return f"{self.venue}:{self.symbol}"


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
    market: Market, order_type: str, quantity: Decimal, price: Decimal | None, mark: Decimal
) -> None:
    """Apply PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE and (MIN_)NOTIONAL as Binance does.

    Raises :class:`SimulatorRejectionError` with code -1013 (``Filter failure: NAME``),
    or on USD-M the notional error -4164, naming the filter that failed.
    """
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
    if notional < market.min_notional:
        if market.venue == "usdm":
            raise SimulatorRejectionError(
                -4164,
                f"Order's notional must be no smaller than {fmt(market.min_notional)} "
                "(unless you choose reduce only).",
            )
        raise _filter_rejection("NOTIONAL")


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
                "maxNotional": "9000000",
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
        "pricePrecision": _decimals(market.tick_size),
        "quantityPrecision": _decimals(market.step_size),
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


def exchange_info_json(venue: Venue, markets: tuple[Market, ...], server_time_ms: int) -> bytes:
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
    else:
        doc["futuresType"] = "U_MARGINED"
        doc["assets"] = [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}
        ]
        doc["symbols"] = [_usdm_symbol_info(m) for m in markets if m.venue == "usdm"]
    return msgspec.json.encode(doc)
