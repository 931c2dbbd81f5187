"""``tradeguard resolve``: every action a flag offers is carried out, end to end.

A real session raises the flags by reconciling against the simulator (over 127.0.0.1,
real ccxt); ``tradeguard resolve`` then runs as a real subprocess, and the simulator's
ground truth (``/_sim/state``), ``tradeguard status`` and the journal are checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from gwhelpers import Admin, make_gateway
from sessionfixtures import open_session

from tradeguard.config import Config
from tradeguard.domain import OrderStatus
from tradeguard.domain.enums import Side
from tradeguard.domain.events import (
    CancelRequested,
    ExternalOrderAdopted,
    FillRecorded,
    FlagResolved,
    OrderCanceled,
    OrderStateCorrected,
    PositionCorrected,
)
from tradeguard.domain.ids import Asset, Symbol, TradeId
from tradeguard.session import SessionSettings
from tradeguard.sim import SimulatorThread
from tradeguard.storage import open_store
from tradeguard.storage.codec import decode_records

TRADEGUARD = [sys.executable, "-m", "tradeguard"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADEGUARD, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _data_dir(config: Config) -> str:
    return config.storage.url.removeprefix("sqlite:///")


def _journal(config: Config) -> list[Any]:
    with open_store(config.storage.url, session_id="default", readonly=True) as st:
        return [event for _, event in decode_records(st.read())]


async def _sim_state(sim: SimulatorThread) -> Any:
    async with aiohttp.ClientSession() as http:
        return await Admin(http, sim.url).state()


async def _external_order_flag(config: Config, sim: SimulatorThread) -> tuple[str, str]:
    """An order placed beside the session, flagged by reconciliation: (flag id, order id)."""
    async with aiohttp.ClientSession() as http:
        placed = await Admin(http, sim.url).post(
            "order",
            {
                "market": "spot",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "50000",
            },
        )
    exchange_id = str(placed["order"]["orderId"])
    async with make_gateway(sim, markets=("spot",)) as gateway:
        session = await open_session(config, gateway)
        try:
            flags = [f for f in session.state.open_flags() if f.kind == "external_order"]
        finally:
            await session.close()
    assert len(flags) == 1
    assert exchange_id in flags[0].flag_id
    return flags[0].flag_id, exchange_id


def _sim_order(state: Any, exchange_id: str) -> Any:
    return next(o for o in state["orders"] if str(o["orderId"]) == exchange_id)


def _status(config: Config) -> Any:
    done = _cli("status", "--data-dir", _data_dir(config), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cancel_on_exchange_cancels_the_order_on_the_exchange(
    store_config: Config, sim: SimulatorThread
) -> None:
    flag_id, exchange_id = asyncio.run(_external_order_flag(store_config, sim))
    assert _sim_order(asyncio.run(_sim_state(sim)), exchange_id)["status"] == "NEW"
    done = _cli(
        "resolve", flag_id, "--action", "cancel_on_exchange", "--note", "not mine",
        "--exchange-url", sim.url, "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["flag"]["status"] == "resolved"
    assert any("canceled on the exchange" in step for step in answer["steps"])
    # Really canceled on the exchange.
    assert _sim_order(asyncio.run(_sim_state(sim)), exchange_id)["status"] == "CANCELED"
    # status shows it canceled (tracked as ours, not open) and no open flag.
    status = _status(store_config)
    assert all(o["exchange_order_id"] != exchange_id for o in status["open_orders"])
    assert status["flags"] == []
    # The journal: adopted, cancel intent, its outcome, then the resolution.
    events = _journal(store_config)
    kinds = [
        type(e)
        for e in events
        if isinstance(e, ExternalOrderAdopted | CancelRequested | OrderCanceled | FlagResolved)
    ]
    assert kinds == [ExternalOrderAdopted, CancelRequested, OrderCanceled, FlagResolved]
    adopted = next(e for e in events if isinstance(e, ExternalOrderAdopted))
    assert adopted.exchange_order_id == exchange_id


def test_adopt_tracks_the_external_order_as_ours(
    store_config: Config, sim: SimulatorThread
) -> None:
    flag_id, exchange_id = asyncio.run(_external_order_flag(store_config, sim))
    done = _cli(
        "resolve", flag_id, "--action", "adopt", "--exchange-url", sim.url,
        "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    status = _status(store_config)
    tracked = [o for o in status["open_orders"] if o["exchange_order_id"] == exchange_id]
    assert len(tracked) == 1
    assert tracked[0]["amount"] == "0.001"
    assert _sim_order(asyncio.run(_sim_state(sim)), exchange_id)["status"] == "NEW"

    # The next reconciliation finds nothing external any more: the order is ours.
    async def reconcile() -> list[str]:
        async with make_gateway(sim, markets=("spot",)) as gateway:
            session = await open_session(store_config, gateway)
            try:
                return [f.kind for f in session.state.open_flags()]
            finally:
                await session.close()

    assert asyncio.run(reconcile()) == []


def test_exchange_action_without_a_reachable_exchange_resolves_nothing(
    store_config: Config, sim: SimulatorThread
) -> None:
    flag_id, exchange_id = asyncio.run(_external_order_flag(store_config, sim))
    before = len(_journal(store_config))
    # Nothing configured and no built-in simulator state: refused, clearly.
    done = _cli(
        "resolve", flag_id, "--action", "cancel_on_exchange",
        "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert "acts on the exchange" in error
    assert "nothing resolved" in error
    # An exchange that does not answer: refused too.
    done = _cli(
        "resolve", flag_id, "--action", "cancel_on_exchange", "--exchange-url",
        "http://127.0.0.1:9", "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not reachable" in json.loads(done.stdout)["error"]
    # Not a URL at all: refused before anything is opened.
    done = _cli(
        "resolve", flag_id, "--action", "cancel_on_exchange", "--exchange-url", "ftp://x",
        "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--exchange-url" in json.loads(done.stdout)["error"]
    assert len(_journal(store_config)) == before
    assert [f["flag_id"] for f in _status(store_config)["flags"]] == [flag_id]
    assert _sim_order(asyncio.run(_sim_state(sim)), exchange_id)["status"] == "NEW"
    # A journal-only action needs no exchange.
    done = _cli(
        "resolve", flag_id, "--action", "ignore", "--data-dir", _data_dir(store_config), "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _status(store_config)["flags"] == []


async def _vanished_order_flag(config: Config, sim: SimulatorThread) -> tuple[str, str]:
    """Our open order that the exchange forgets (a reset), flagged: (flag id, client id)."""
    async with make_gateway(sim, markets=("spot",)) as gateway:
        session = await open_session(config, gateway)
        try:
            order = await session.submit_order(
                "BTC/USDT", "buy", "limit", Decimal("0.001"), Decimal(50000)
            )
            assert order.status is OrderStatus.OPEN
            async with aiohttp.ClientSession() as http:
                await Admin(http, sim.url).post("reset", {})
            await session.reconcile_now()
            flags = [f for f in session.state.open_flags() if f.kind == "vanished_order"]
        finally:
            await session.close()
    assert len(flags) == 1
    return flags[0].flag_id, order.client_order_id


def test_mark_canceled_closes_the_vanished_order(
    store_config: Config, sim: SimulatorThread
) -> None:
    flag_id, client_id = asyncio.run(_vanished_order_flag(store_config, sim))
    assert any(o["client_order_id"] == client_id for o in _status(store_config)["open_orders"])
    done = _cli(
        "resolve", flag_id, "--action", "mark_canceled", "--exchange-url", sim.url,
        "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    status = _status(store_config)
    assert all(o["client_order_id"] != client_id for o in status["open_orders"])
    assert status["flags"] == []
    events = _journal(store_config)
    corrected = [
        e for e in events if isinstance(e, OrderStateCorrected) and e.client_order_id == client_id
    ]
    assert corrected[-1].status is OrderStatus.CANCELED
    resolved = [i for i, e in enumerate(events) if isinstance(e, FlagResolved)]
    assert resolved == [events.index(corrected[-1]) + 1]  # the effect, then the resolution
    assert not (asyncio.run(_sim_state(sim)))["open_orders"]


def test_mark_canceled_is_refused_when_the_exchange_has_the_order(
    store_config: Config, sim: SimulatorThread
) -> None:
    flag_id, client_id = asyncio.run(_vanished_order_flag(store_config, sim))

    async def place_it_again() -> None:
        # The order turns up after all (same client id): it is not canceled.
        async with aiohttp.ClientSession() as http:
            await Admin(http, sim.url).post(
                "order",
                {
                    "market": "spot", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                    "quantity": "0.001", "price": "50000", "clientOrderId": client_id,
                },
            )  # fmt: skip

    asyncio.run(place_it_again())
    done = _cli(
        "resolve", flag_id, "--action", "mark_canceled", "--exchange-url", sim.url,
        "--data-dir", _data_dir(store_config), "--json",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the exchange now has order" in json.loads(done.stdout)["error"]
    assert [f["flag_id"] for f in _status(store_config)["flags"]] == [flag_id]


PERP = "BTC/USDT:USDT"


async def _position_mismatch_flag(config: Config, sim: SimulatorThread) -> str:
    """A perpetual position the journal has and the exchange does not, flagged."""
    settings = SessionSettings(symbols=(PERP,), unknown_grace_seconds=0)
    async with make_gateway(sim, markets=("spot", "linear")) as gateway:
        session = await open_session(config, gateway, settings=settings)
        try:
            # A fill the exchange has no record of (evidence lost some other way).
            await session.service.append(
                [
                    FillRecorded(
                        ts_ns=time.time_ns(), client_order_id=None, trade_id=TradeId("ghost"),
                        symbol=Symbol(PERP), side=Side.BUY, price=Decimal(60000),
                        amount=Decimal("0.01"), fee=Decimal(0), fee_asset=Asset("USDT"),
                        is_maker=False, exchange_ts_ns=time.time_ns(),
                    )
                ]
            )  # fmt: skip
            await session.reconcile_now()
            flags = [f for f in session.state.open_flags() if f.kind == "position_mismatch"]
        finally:
            await session.close()
    assert len(flags) == 1
    return flags[0].flag_id


def test_accept_exchange_position_adopts_the_exchanges_figures(
    store_config: Config, sim: SimulatorThread, tmp_path: Path
) -> None:
    flag_id = asyncio.run(_position_mismatch_flag(store_config, sim))
    # The exchange as configured (with keys, so both of its markets are loaded).
    config_file = tmp_path / "tradeguard.toml"
    config_file.write_text(f'[exchange]\nurl = "{sim.url}"\n')
    env = {**os.environ, "TRADEGUARD_API_KEY": "demo", "TRADEGUARD_API_SECRET": "demo"}
    done = subprocess.run(
        [*TRADEGUARD, "resolve", flag_id, "--action", "accept_exchange_position",
         "--config", str(config_file), "--data-dir", _data_dir(store_config), "--json"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    events = _journal(store_config)
    corrected = [e for e in events if isinstance(e, PositionCorrected) and e.symbol == PERP]
    assert corrected[-1].size == 0
    assert isinstance(events[events.index(corrected[-1]) + 1], FlagResolved)
    assert _status(store_config)["flags"] == []

    async def reconcile_again() -> tuple[Decimal, list[str]]:
        settings = SessionSettings(symbols=(PERP,), unknown_grace_seconds=0)
        async with make_gateway(sim, markets=("spot", "linear")) as gateway:
            session = await open_session(store_config, gateway, settings=settings)
            try:
                flags = [f.kind for f in session.state.open_flags()]
                return session.state.position(PERP).size, flags
            finally:
                await session.close()

    # Reconciled: the journal holds the exchange's (flat) position, nothing is flagged.
    assert asyncio.run(reconcile_again()) == (Decimal(0), [])


async def test_session_resolve_flag_carries_out_the_cancel(
    store_config: Config, sim: SimulatorThread
) -> None:
    # The library's Session.resolve_flag goes through the same actions.
    async with aiohttp.ClientSession() as http:
        admin = Admin(http, sim.url)
        placed = await admin.post(
            "order",
            {"market": "spot", "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
             "quantity": "0.002", "price": "90000"},
        )  # fmt: skip
        exchange_id = str(placed["order"]["orderId"])
        async with make_gateway(sim, markets=("spot",)) as gateway:
            session = await open_session(store_config, gateway)
            try:
                (flag,) = [f for f in session.state.open_flags() if f.kind == "external_order"]
                resolved = await session.resolve_flag(flag.flag_id, "cancel_on_exchange")
                assert not resolved.is_open
                tracked = session.state.order_by_exchange_id("BTC/USDT", exchange_id)
                assert tracked is not None
                assert tracked.status is OrderStatus.CANCELED
            finally:
                await session.close()
        assert _sim_order(await admin.state(), exchange_id)["status"] == "CANCELED"
