"""tradeguard quick start: a Session on the built-in simulator; place and cancel an order.

Run it from a fresh clone (after ``make run`` or ``make test`` has set up ``.venv``)::

    .venv/bin/python examples/quickstart.py

With no ``[exchange] url`` and no API keys in the environment, ``Session.open`` starts
tradeguard's built-in exchange simulator on a free 127.0.0.1 port: never a real-money
exchange by default. The journal goes to ``./tradeguard-data`` (the default store), with
the simulator's state next to it, so a second run recovers the first one's session.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_FLOOR, Decimal

from tradeguard.config import load_config
from tradeguard.logs import configure_logging
from tradeguard.session import Session

SYMBOL = "BTC/USDT"


async def main() -> None:
    """Open, trade a little, close cleanly."""
    configure_logging(level="warning")  # every state change is logged at info
    session = await Session.open(load_config())  # recover, reconcile, resolve, ready
    try:
        startup = session.startup
        assert startup is not None
        print(f"session open on {session.venue.where if session.venue else 'your gateway'}; "
              f"previous shutdown {'UNCLEAN' if startup.unclean_shutdown else 'clean'}")

        ticker = await session.ticker(SYMBOL)
        market = session.market(SYMBOL)
        assert ticker.mid is not None
        # 10 % below the market, on the price grid: it rests on the book.
        price = (ticker.mid * Decimal("0.9") / market.tick_size).to_integral_value(
            rounding=ROUND_FLOOR
        ) * market.tick_size
        order = await session.submit_order(SYMBOL, "buy", "limit", Decimal("0.001"), price)
        print(f"placed {order.client_order_id}: buy 0.001 {SYMBOL} at {price}, "
              f"{order.status.value}")  # journaled (fsync) before it was sent

        order = await session.cancel_order(order.client_order_id)  # journaled first too
        print(f"canceled {order.client_order_id}: {order.status.value}")

        print(f"open orders: {len(session.open_orders())}; balances: "
              + ", ".join(f"{asset} {bal.free}" for asset, bal in sorted(session.balances.items())))
    finally:
        await session.close()  # clean shutdown: the next open says so
    print("closed cleanly")


if __name__ == "__main__":
    asyncio.run(main())
