"""Configuration of the exchange simulator (a frozen msgspec struct, units in names)."""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = ["SimulatorConfig"]


def _default_spot_balances() -> dict[str, Decimal]:
    return {"USDT": Decimal(100000), "BTC": Decimal(1), "ETH": Decimal(10)}


def _default_futures_balances() -> dict[str, Decimal]:
    return {"USDT": Decimal(100000)}


class SimulatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything that shapes one simulator instance.

    The same config and the same sequence of requests give the same results: the random
    walk of every mark price is seeded from ``seed``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    # Relative standard deviation of one random-walk step of a mark price.
    volatility: Decimal = Decimal("0.0005")
    api_key: str = "demo"
    api_secret: str = "demo"  # noqa: S105 - the documented demo secret, not a real one
    # 0 disables the timer; prices then move only on admin commands.
    tick_interval_ms: int = 200
    # Notional (quote asset) one order can fill per matching pass; smaller values make
    # partial fills of marketable and resting limit orders happen.
    depth_per_tick_quote: Decimal = Decimal(250000)
    # Market orders fill at mark * (1 +- spread).
    spread: Decimal = Decimal("0.0001")
    spot_maker_fee: Decimal = Decimal("0.001")
    spot_taker_fee: Decimal = Decimal("0.001")
    futures_maker_fee: Decimal = Decimal("0.0002")
    futures_taker_fee: Decimal = Decimal("0.0005")
    default_leverage: int = 10
    spot_balances: dict[str, Decimal] = msgspec.field(default_factory=_default_spot_balances)
    futures_balances: dict[str, Decimal] = msgspec.field(
        default_factory=_default_futures_balances
    )
    # Requests per second (all endpoints) before 429 / -1003; 0 means unlimited.
    rate_limit_per_s: int = 0
    # File the engine state is kept in across restarts ("" = none, the state dies with
    # the process). Saved atomically before the answer to every changing request.
    state_path: str = ""
    # A price move that filled nothing is saved at most this often (the next change or a
    # clean stop saves it anyway): losing a few random-walk steps to a SIGKILL is harmless.
    state_save_interval_ms: int = 1000
    # History kept in the state file: every open order, plus the most recent closed
    # orders per venue and trades per market (a long demo must not write megabytes per
    # request). Older history is forgotten by a restarted simulator.
    state_keep_closed_orders: int = 2000
    state_keep_trades: int = 5000
