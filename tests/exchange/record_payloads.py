"""Record ccxt's unified dicts from the simulator into tests/exchange/payloads/*.json.

Run by hand when ccxt or the simulator changes (``.venv/bin/python
tests/exchange/record_payloads.py``); the parsing tests read the JSON files, so they
test the exact shapes real ccxt produced against the Binance-compatible simulator.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.sim import SimulatorConfig, SimulatorThread

PAYLOADS = Path(__file__).parent / "payloads"


def save(name: str, payload: Any) -> None:
    path = PAYLOADS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
    print("wrote", path)


async def record(url: str) -> None:
    async with CcxtGateway("binance", api_key="demo", secret="demo", url_override=url) as gw:
        ex: Any = gw._exchange  # recording needs ccxt's raw answers, not our reports
        markets = await ex.load_markets()
        save("markets", markets)
        save("time", await ex.fetch_time())
        spot = "BTC/USDT"
        perp = "BTC/USDT:USDT"
        save(
            "order_spot_limit_open",
            await ex.create_order(
                spot, "limit", "buy", 0.01, 20000.0, {"clientOrderId": "rec-open"}
            ),
        )
        save(
            "order_spot_market_filled",
            await ex.create_order(
                spot, "market", "buy", 0.002, None, {"clientOrderId": "rec-market"}
            ),
        )
        # Marketable limit bigger than one matching pass can fill: partially filled.
        save(
            "order_spot_limit_partial",
            await ex.create_order(
                spot, "limit", "buy", 0.05, 61000.0, {"clientOrderId": "rec-partial"}
            ),
        )
        save(
            "order_spot_fetch_by_client_id",
            await ex.fetch_order(None, spot, {"clientOrderId": "rec-open"}),
        )
        save("open_orders_spot", await ex.fetch_open_orders(spot))
        save("balance_spot", await ex.fetch_balance({"type": "spot"}))  # with locked funds
        save("order_spot_cancel", await ex.cancel_order(None, spot, {"clientOrderId": "rec-open"}))
        save("orders_spot_all", await ex.fetch_orders(spot, None, 50, {"orderId": 0}))
        save("trades_spot", await ex.fetch_my_trades(spot, None, 50, {"fromId": 0}))
        save(
            "order_perp_market_short",
            await ex.create_order(
                perp, "market", "sell", 0.01, None, {"clientOrderId": "rec-perp"}
            ),
        )
        save(
            "order_perp_limit_reduce_only",
            await ex.create_order(
                perp,
                "limit",
                "buy",
                0.005,
                50000.0,
                {"clientOrderId": "rec-ro", "reduceOnly": True},
            ),
        )
        save("balance_linear", await ex.fetch_balance({"type": "swap", "subType": "linear"}))
        save("positions_perp", await ex.fetch_positions([perp]))
        save("trades_perp", await ex.fetch_my_trades(perp, None, 50, {"fromId": 0}))
        await gw.cancel_order(perp, client_order_id="rec-ro")
        await gw.cancel_order(spot, client_order_id="rec-partial")


def main() -> None:
    PAYLOADS.mkdir(exist_ok=True)
    config = SimulatorConfig(seed=0, tick_interval_ms=0, depth_per_tick_quote=Decimal(1000))
    with SimulatorThread(config) as sim:
        asyncio.run(record(sim.url))


if __name__ == "__main__":
    main()
