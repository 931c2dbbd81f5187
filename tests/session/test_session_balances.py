"""Balances kept current from the session's own events (spot), checked against the sim.

A long demo-like run on real ccxt against the simulator over 127.0.0.1: resting limit
orders on both sides, fills as the price moves through them, market orders, cancels,
and a reconciliation after every round. A healthy session's reconciliation finds no
balance discrepancy, and the journal's balances equal the exchange's ground truth.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from gwhelpers import Admin
from sessionfixtures import open_session

import tradeguard.cli.trade_cmd as trade_cmd
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.domain import OrderStatus
from tradeguard.domain.events import ReconciliationReported
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.reconcile.discrepancies import BalanceMismatch
from tradeguard.session import Session, SessionSettings
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records
from tradeguard.web.config import HttpSettings

SETTINGS = SessionSettings(symbols=("BTC/USDT", "ETH/USDT"), unknown_grace_seconds=0)
MARKS = {"BTC/USDT": Decimal(60000), "ETH/USDT": Decimal(3000)}
STEP = {"BTC/USDT": Decimal(100), "ETH/USDT": Decimal(5)}
LOT = {"BTC/USDT": Decimal("0.001"), "ETH/USDT": Decimal("0.01")}


async def _set_price(admin: Admin, symbol: str, price: Decimal) -> None:
    await admin.post("price", {"symbol": symbol.replace("/", ""), "price": str(price)})


def _balance_mismatches(session: Session) -> list[str]:
    status = session.last_reconcile
    assert status is not None
    assert status.complete, status.error
    assert status.report is not None
    return [repr(d) for d in status.report.discrepancies if isinstance(d, BalanceMismatch)]


async def test_a_healthy_session_reconciles_without_balance_discrepancies(
    store_config: Config, gateway: CcxtGateway, admin: Admin
) -> None:
    rng = random.Random(11)
    session = await open_session(store_config, gateway, settings=SETTINGS)
    try:
        for symbol, mark in MARKS.items():
            await _set_price(admin, symbol, mark)
        await session.reconcile_now()  # the wallet as the exchange reports it
        reconciles, fills_before = 0, session.state.fills_recorded
        for round_no in range(8):
            for symbol, mark in MARKS.items():
                for level in range(1, 4):
                    amount = LOT[symbol] * rng.randint(1, 3)
                    await session.submit_order(
                        symbol, "buy", "limit", amount, mark - STEP[symbol] * level
                    )
                    await session.submit_order(
                        symbol, "sell", "limit", amount, mark + STEP[symbol] * level
                    )
                if round_no % 3 == 0:
                    side = "buy" if rng.random() < 0.5 else "sell"
                    market = await session.submit_order(symbol, side, "market", LOT[symbol])
                    assert market.status is OrderStatus.FILLED
                # The price swings through some levels on each side: partial and full fills.
                move = STEP[symbol] * rng.randint(1, 3)
                await _set_price(admin, symbol, mark - move)
                await _set_price(admin, symbol, mark + move)
                await _set_price(admin, symbol, mark)
            await session.poll_once()
            # Cancel about half of what still rests.
            for order in session.open_orders():
                if rng.random() < 0.5:
                    canceled = await session.cancel_order(order.client_order_id)
                    assert canceled.is_terminal
            # Before reconciling: the events alone kept the balances current, free and
            # locked exactly as the exchange has them (Binance's rule: a buy locks
            # price x remaining quote, a sell its base; fees come out of what comes in).
            truth = (await admin.state())["spot"]["balances"]
            for asset, balance in session.state.balances.items():
                free, locked = Decimal(truth[asset]["free"]), Decimal(truth[asset]["locked"])
                assert (balance.free, balance.used) == (free, locked), (round_no, asset)
            await session.reconcile_now()
            reconciles += 1
            assert _balance_mismatches(session) == [], f"round {round_no}"
        assert reconciles == 8
        assert session.state.fills_recorded - fills_before > 20  # it really traded
        assert session.open_orders()  # and orders still rest (locked funds)
        # The journal's balances are the exchange's, free and locked, to the last digit.
        truth = (await admin.state())["spot"]["balances"]
        for asset, balance in session.state.balances.items():
            exchange = (Decimal(truth[asset]["free"]), Decimal(truth[asset]["locked"]))
            assert (balance.free, balance.used) == exchange, asset
    finally:
        await session.close()


async def test_the_demo_grid_reconciles_without_balance_discrepancies(tmp_path: Path) -> None:
    # `tradeguard run` as the demo does it: the grid on the built-in simulator,
    # reconciling every half second (each run is a check of the balances).
    config = Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}",
            backup_every_seconds=86_400.0,
            backup_dir=str(tmp_path / "backups"),
        ),
        reconcile=ReconcileSettings(interval_seconds=0.5),
        http=HttpSettings(enabled=False),  # `make run` serves 127.0.0.1:8765; tests must not
    )
    settings = SessionSettings(poll_interval_seconds=0.2, tick_interval_seconds=0.2)
    summary = await trade_cmd.run_trading(
        config, config.storage.url, duration_s=6.0, show=False, settings=settings
    )
    assert summary["fills"] > 0
    with open_store(config.storage.url, session_id="default", readonly=True) as st:
        reports = [
            e for _, e in decode_records(st.read()) if isinstance(e, ReconciliationReported)
        ]
    assert len(reports) >= 4
    # The first run learns the wallet (journaled, not a discrepancy: there was nothing
    # to differ from); no run after finds a difference either.
    assert reports[0].events_journaled > 0
    mismatches = [f for r in reports for f in r.found if f.startswith("balance_mismatch=")]
    assert mismatches == []
