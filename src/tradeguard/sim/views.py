"""Binance's JSON shapes for the simulator's orders, trades, balances and positions.

Numbers are strings (Binance's habit, and ccxt expects it); timestamps are ms ints.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeguard.sim.accounts import Position, SimOrder, SimTrade, q8
from tradeguard.sim.engine import Engine
from tradeguard.sim.markets import bracket_for_notional, fmt, max_notional_for_leverage

__all__ = [
    "capital_coins",
    "futures_account",
    "futures_balances",
    "futures_order",
    "futures_positions",
    "futures_trade",
    "spot_account",
    "spot_cancel",
    "spot_order",
    "spot_order_ack",
    "spot_trade",
]


def spot_order(order: SimOrder) -> dict[str, Any]:
    """GET /api/v3/order and openOrders / allOrders rows."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "stopPrice": "0",
        "icebergQty": "0",
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": True,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": "0",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def spot_order_ack(order: SimOrder, fills: list[SimTrade], resp_type: str) -> dict[str, Any]:
    """POST /api/v3/order answer for newOrderRespType ACK, RESULT or FULL."""
    ack: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time_ms,
    }
    if resp_type == "ACK":
        return ack
    ack.update(
        price=fmt(order.price),
        origQty=fmt(order.orig_qty),
        executedQty=fmt(order.executed_qty),
        origQuoteOrderQty="0",
        cummulativeQuoteQty=fmt(order.cum_quote),
        status=order.status,
        timeInForce=order.time_in_force or "GTC",
        type=order.type,
        side=order.side,
        workingTime=order.time_ms,
        selfTradePreventionMode="EXPIRE_MAKER",
    )
    if resp_type == "FULL":
        ack["fills"] = [
            {
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "commission": fmt(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.trade_id,
            }
            for t in fills
        ]
    return ack


def spot_cancel(order: SimOrder, cancel_client_id: str, now_ms: int) -> dict[str, Any]:
    """DELETE /api/v3/order answer: clientOrderId is the cancel's own id."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": now_ms,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": "0",
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def spot_trade(trade: SimTrade) -> dict[str, Any]:
    """GET /api/v3/myTrades row."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time_ms,
        "isBuyer": trade.side == "BUY",
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def spot_account(engine: Engine, now_ms: int) -> dict[str, Any]:
    """GET /api/v3/account."""
    account = engine.spot
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(engine.config.spot_maker_fee),
            "taker": fmt(engine.config.spot_taker_fee),
            "buyer": "0",
            "seller": "0",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": account.update_ms or now_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": fmt(free), "locked": fmt(account.locked[asset])}
            for asset, free in sorted(account.free.items())
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }


def futures_order(order: SimOrder) -> dict[str, Any]:
    """USD-M order (POST answer with RESULT, GET, DELETE, openOrders, allOrders)."""
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "avgPrice": fmt(order.avg_price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cumQty": fmt(order.executed_qty),
        "cumQuote": fmt(order.cum_quote),
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": order.time_ms,
        "updateTime": order.update_ms,
    }


def futures_trade(trade: SimTrade) -> dict[str, Any]:
    """GET /fapi/v1/userTrades row."""
    return {
        "buyer": trade.side == "BUY",
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "id": trade.trade_id,
        "maker": trade.is_maker,
        "orderId": trade.order_id,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "realizedPnl": fmt(trade.realized_pnl),
        # USD-M settles in the quote asset, which is also what fees are paid in.
        "marginAsset": trade.commission_asset,
        "side": trade.side,
        "positionSide": "BOTH",
        "symbol": trade.symbol,
        "time": trade.time_ms,
    }


def _asset_rows(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    marks = engine.futures_marks()
    fut = engine.futures
    unrealized = fut.unrealized(marks)
    position_margin = fut.position_margin(marks)
    available = fut.available(marks)
    maint = sum(
        (maint_margin(p, marks[p.symbol]) for p in fut.positions.values() if p.amount),
        Decimal(0),
    )
    rows = []
    for asset, wallet in sorted(fut.wallet.items()):
        is_usdt = asset == "USDT"
        upnl = unrealized if is_usdt else Decimal(0)
        rows.append(
            {
                "asset": asset,
                "walletBalance": fmt(wallet),
                "unrealizedProfit": fmt(upnl),
                "marginBalance": fmt(wallet + upnl),
                "maintMargin": fmt(maint if is_usdt else Decimal(0)),
                "initialMargin": fmt(
                    position_margin + fut.order_margin if is_usdt else Decimal(0)
                ),
                "positionInitialMargin": fmt(position_margin if is_usdt else Decimal(0)),
                "openOrderInitialMargin": fmt(fut.order_margin if is_usdt else Decimal(0)),
                "crossWalletBalance": fmt(wallet),
                "crossUnPnl": fmt(upnl),
                "availableBalance": fmt(available if is_usdt else wallet),
                "maxWithdrawAmount": fmt(available if is_usdt else wallet),
                "marginAvailable": True,
                # ccxt skips assets whose updateTime is 0.
                "updateTime": fut.update_ms or now_ms,
            }
        )
    return rows


def maint_margin(pos: Position, mark: Decimal) -> Decimal:
    """Maintenance margin of a position: notional * bracket rate - bracket amount."""
    notional = abs(pos.amount) * mark
    if not notional:
        return Decimal(0)
    bracket = bracket_for_notional(notional)
    return q8(notional * bracket.maint_margin_ratio - bracket.cum)


def liquidation_price(engine: Engine, pos: Position, marks: dict[str, Decimal]) -> Decimal:
    """Binance's cross-margin, one-way liquidation price of ``pos`` (0: none).

    LP = (WB - TMM + UPNL + cum - side*size*entry) / (size*MMR - side*size), with the
    wallet balance WB and the maintenance margin TMM and unrealized PnL UPNL of every
    other position; 0 when the position is flat or could never be liquidated.
    """
    if not pos.amount:
        return Decimal(0)
    fut = engine.futures
    others = [p for p in fut.positions.values() if p.amount and p.symbol != pos.symbol]
    other_maint = sum((maint_margin(p, marks[p.symbol]) for p in others), Decimal(0))
    other_upnl = sum((p.unrealized(marks[p.symbol]) for p in others), Decimal(0))
    size = abs(pos.amount)
    side = Decimal(1) if pos.amount > 0 else Decimal(-1)
    bracket = bracket_for_notional(size * marks[pos.symbol])
    numerator = (
        fut.wallet.get("USDT", Decimal(0)) - other_maint + other_upnl + bracket.cum
        - side * size * pos.entry_price
    )
    denominator = size * bracket.maint_margin_ratio - side * size
    if not denominator:
        return Decimal(0)
    price = numerator / denominator
    return q8(price) if price > 0 else Decimal(0)


def futures_positions(engine: Engine, now_ms: int, symbol: str | None) -> list[dict[str, Any]]:
    """GET /fapi/v2|v3/positionRisk rows (one-way mode: positionSide BOTH)."""
    marks = engine.futures_marks()
    rows = []
    for market in engine.markets.values():
        if market.venue != "usdm" or (symbol is not None and market.symbol != symbol):
            continue
        pos = engine.futures.position(market.symbol)
        mark = marks[market.symbol]
        notional = pos.amount * mark
        margin = abs(notional) / pos.leverage
        rows.append(
            {
                "symbol": market.symbol,
                "positionSide": "BOTH",
                "positionAmt": fmt(pos.amount),
                "entryPrice": fmt(pos.entry_price),
                "breakEvenPrice": fmt(pos.entry_price),
                "markPrice": fmt(mark),
                "unRealizedProfit": fmt(pos.unrealized(mark)),
                "liquidationPrice": fmt(liquidation_price(engine, pos, marks)),
                "isolatedMargin": "0",
                "notional": fmt(notional),
                "marginAsset": "USDT",
                "isolatedWallet": "0",
                "initialMargin": fmt(margin),
                "maintMargin": fmt(maint_margin(pos, mark)),
                "positionInitialMargin": fmt(margin),
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "leverage": str(pos.leverage),
                "marginType": "cross",
                "isAutoAddMargin": "false",
                "maxNotionalValue": fmt(max_notional_for_leverage(pos.leverage)),
                "updateTime": pos.update_ms or now_ms,
            }
        )
    return rows


def _account_positions(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    """The ``positions`` of GET /fapi/v2|v3/account (Binance spells it unrealizedProfit)."""
    marks = engine.futures_marks()
    rows = []
    for pos in engine.futures.positions.values():
        if not pos.amount:
            continue
        mark = marks[pos.symbol]
        notional = pos.amount * mark
        margin = abs(notional) / pos.leverage
        rows.append(
            {
                "symbol": pos.symbol,
                "positionSide": "BOTH",
                "positionAmt": fmt(pos.amount),
                "unrealizedProfit": fmt(pos.unrealized(mark)),
                "isolatedMargin": "0",
                "notional": fmt(notional),
                "isolatedWallet": "0",
                "initialMargin": fmt(margin),
                "maintMargin": fmt(maint_margin(pos, mark)),
                "positionInitialMargin": fmt(margin),
                "openOrderInitialMargin": "0",
                "leverage": str(pos.leverage),
                "isolated": False,
                "entryPrice": fmt(pos.entry_price),
                "breakEvenPrice": fmt(pos.entry_price),
                "maxNotional": fmt(max_notional_for_leverage(pos.leverage)),
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": pos.update_ms or now_ms,
            }
        )
    return rows


def futures_balances(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    """GET /fapi/v2|v3/balance rows."""
    return [
        {
            "accountAlias": "SimAccount",
            "asset": row["asset"],
            "balance": row["walletBalance"],
            "crossWalletBalance": row["crossWalletBalance"],
            "crossUnPnl": row["crossUnPnl"],
            "availableBalance": row["availableBalance"],
            "maxWithdrawAmount": row["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": row["updateTime"],
        }
        for row in _asset_rows(engine, now_ms)
    ]


def futures_account(engine: Engine, now_ms: int) -> dict[str, Any]:
    """GET /fapi/v2|v3/account."""
    assets = _asset_rows(engine, now_ms)
    usdt = next((a for a in assets if a["asset"] == "USDT"), None)
    totals = {
        "totalInitialMargin": usdt["initialMargin"] if usdt else "0",
        "totalMaintMargin": usdt["maintMargin"] if usdt else "0",
        "totalWalletBalance": usdt["walletBalance"] if usdt else "0",
        "totalUnrealizedProfit": usdt["unrealizedProfit"] if usdt else "0",
        "totalMarginBalance": usdt["marginBalance"] if usdt else "0",
        "totalPositionInitialMargin": usdt["positionInitialMargin"] if usdt else "0",
        "totalOpenOrderInitialMargin": usdt["openOrderInitialMargin"] if usdt else "0",
        "totalCrossWalletBalance": usdt["crossWalletBalance"] if usdt else "0",
        "totalCrossUnPnl": usdt["crossUnPnl"] if usdt else "0",
        "availableBalance": usdt["availableBalance"] if usdt else "0",
        "maxWithdrawAmount": usdt["maxWithdrawAmount"] if usdt else "0",
    }
    positions = _account_positions(engine, now_ms)
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        **totals,
        "assets": assets,
        "positions": positions,
    }


def capital_coins(engine: Engine) -> list[dict[str, Any]]:
    """GET /sapi/v1/capital/config/getall: every coin of the spot wallet and markets.

    Money moves in and out only through the admin API, so every coin has one network,
    ``SIM``, with deposits and withdrawals disabled (ccxt then reports them disabled).
    """
    account = engine.spot
    coins = set(account.free)
    for market in engine.markets.values():
        coins.update((market.base, market.quote))
    return [
        {
            "coin": coin,
            "depositAllEnable": False,
            "withdrawAllEnable": False,
            "name": coin,
            "free": fmt(account.free.get(coin, Decimal(0))),
            "locked": fmt(account.locked.get(coin, Decimal(0))),
            "freeze": "0",
            "withdrawing": "0",
            "ipoing": "0",
            "ipoable": "0",
            "storage": "0",
            "isLegalMoney": False,
            "trading": True,
            "networkList": [_sim_network(coin)],
        }
        for coin in sorted(coins)
    ]


def _sim_network(coin: str) -> dict[str, Any]:
    return {
        "network": "SIM",
        "coin": coin,
        "withdrawIntegerMultiple": "0.00000001",
        "isDefault": True,
        "depositEnable": False,
        "withdrawEnable": False,
        "depositDesc": "Deposits go through the simulator's admin API.",
        "withdrawDesc": "Withdrawals go through the simulator's admin API.",
        "specialTips": "",
        "name": "Simulator ledger",
        "resetAddressStatus": False,
        "addressRegex": "",
        "memoRegex": "",
        "withdrawFee": "0",
        "withdrawMin": "0",
        "withdrawMax": "0",
        "depositDust": "0",
        "minConfirm": 0,
        "unLockConfirm": 0,
        "sameAddress": False,
        "estimatedArrivalTime": 0,
        "busy": False,
    }
