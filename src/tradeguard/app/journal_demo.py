"""A demo order flow written through the journal (the ``run`` demo until trading lands).

Several concurrent traders each walk orders through the real lifecycle: write-ahead
intent (client order id derived from the journal sequence), acknowledgement or a lost
response (UNKNOWN, later settled), partial and full fills, cancels, balance updates. The
events are what a live session journals; the exchange side is simulated in-process.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from decimal import Decimal

from tradeguard.app.service import LocalService
from tradeguard.domain.enums import MarketKind, OrderStatus, OrderType, Side
from tradeguard.domain.events import (
    AnyEvent,
    BalanceUpdated,
    CancelRequested,
    FillRecorded,
    InstrumentRegistered,
    OrderAcknowledged,
    OrderCanceled,
    OrderIntended,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderStateCorrected,
)
from tradeguard.domain.ids import (
    Asset,
    ClientOrderId,
    ExchangeOrderId,
    Symbol,
    TradeId,
    make_client_order_id,
)

__all__ = ["DemoFlow"]

_SPOT = Symbol("BTC/USDT")
_PERP = Symbol("BTC/USDT:USDT")
_STEP = Decimal("0.001")
_TICK = Decimal("0.1")


class DemoFlow:
    """Drives ``traders`` concurrent order lifecycles through ``service``'s journal."""

    def __init__(self, service: LocalService, *, seed: int = 0, traders: int = 8) -> None:
        self.service = service
        self.traders = traders
        self._rng = random.Random(seed)
        self._price = Decimal("60000")
        self._prefix = f"tg{seed % 1000}"
        self.events_written = 0
        self.orders_placed = 0
        self.fills = 0

    async def _append(self, events: list[AnyEvent]) -> None:
        await self.service.append(events)
        self.events_written += len(events)

    async def ensure_instruments(self) -> None:
        """Register the demo's markets once per session."""
        state = self.service.state
        now = time.time_ns()
        missing: list[AnyEvent] = []
        if _SPOT not in state.instruments:
            missing.append(InstrumentRegistered(
                ts_ns=now, symbol=_SPOT, kind=MarketKind.SPOT, base=Asset("BTC"),
                quote=Asset("USDT")))
        if _PERP not in state.instruments:
            missing.append(InstrumentRegistered(
                ts_ns=now, symbol=_PERP, kind=MarketKind.PERPETUAL, base=Asset("BTC"),
                quote=Asset("USDT"), settle=Asset("USDT")))
        if missing:
            await self._append(missing)

    async def run(
        self,
        *,
        max_events: int | None,
        stop: asyncio.Event,
        rate_per_s: float | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Run until ``max_events`` were written or ``stop`` is set."""
        await self.ensure_instruments()

        def done() -> bool:
            return stop.is_set() or (max_events is not None and self.events_written >= max_events)

        async def trader(index: int) -> None:
            rng = random.Random(self._rng.random() + index)
            while not done():
                await self._one_order(rng, done)
                if on_progress is not None:
                    on_progress()
                if rate_per_s:
                    await asyncio.sleep(self.traders / rate_per_s)

        await asyncio.gather(*(trader(i) for i in range(self.traders)))

    async def _one_order(self, rng: random.Random, done: Callable[[], bool]) -> None:
        self._price = max(Decimal("1000"), self._price + Decimal(rng.randint(-50, 50)) * _TICK)
        symbol = rng.choice((_SPOT, _PERP))
        kind = MarketKind.SPOT if symbol == _SPOT else MarketKind.PERPETUAL
        side = rng.choice((Side.BUY, Side.SELL))
        offset = Decimal(rng.randint(1, 40)) * _TICK
        price = self._price - offset if side is Side.BUY else self._price + offset
        amount = Decimal(rng.randint(1, 50)) * _STEP
        # The client order id is the intent's own journal sequence: no await in between.
        cid = make_client_order_id(self._prefix, self.service.journal.next_seq)
        await self._append([OrderIntended(
            ts_ns=time.time_ns(), client_order_id=cid, symbol=symbol, kind=kind, side=side,
            order_type=OrderType.LIMIT, amount=amount, price=price)])
        self.orders_placed += 1
        exchange_id = ExchangeOrderId(f"sim-{cid}")
        roll = rng.random()
        if roll < 0.04:
            await self._append([OrderOutcomeUnknown(
                ts_ns=time.time_ns(), client_order_id=cid, reason="demo: response lost")])
            if rng.random() < 0.5:
                await self._append([OrderNotPlaced(
                    ts_ns=time.time_ns(), client_order_id=cid,
                    reason="demo: not found by client id after grace period")])
                return
            await self._append([OrderStateCorrected(
                ts_ns=time.time_ns(), client_order_id=cid, status=OrderStatus.OPEN,
                filled=Decimal(0), exchange_order_id=exchange_id,
                cause="demo: found by client order id")])
        elif roll < 0.07:
            await self._append([OrderRejected(
                ts_ns=time.time_ns(), client_order_id=cid, reason="demo: filter failure")])
            return
        else:
            await self._append([OrderAcknowledged(
                ts_ns=time.time_ns(), client_order_id=cid, exchange_order_id=exchange_id)])
        await self._fill_or_cancel(rng, cid, symbol, side, price, amount, done)

    async def _fill_or_cancel(
        self,
        rng: random.Random,
        cid: ClientOrderId,
        symbol: Symbol,
        side: Side,
        price: Decimal,
        amount: Decimal,
        done: Callable[[], bool],
    ) -> None:
        filled = Decimal(0)
        for part in range(rng.randint(0, 3)):
            if done():
                return
            remaining = amount - filled
            chunk = remaining if part == 2 or rng.random() < 0.4 else max(
                _STEP, (remaining / 2).quantize(_STEP))
            chunk = min(chunk, remaining)
            if chunk <= 0:
                break
            filled += chunk
            await self._append([FillRecorded(
                ts_ns=time.time_ns(), client_order_id=cid, trade_id=TradeId(f"{cid}-t{part}"),
                symbol=symbol, side=side, price=price, amount=chunk,
                fee=(price * chunk * Decimal("0.001")).quantize(Decimal("0.00000001")),
                fee_asset=Asset("USDT"), is_maker=True, exchange_ts_ns=time.time_ns())])
            self.fills += 1
        if filled < amount and not done():
            await self._append([CancelRequested(ts_ns=time.time_ns(), client_order_id=cid)])
            await self._append([OrderCanceled(
                ts_ns=time.time_ns(), client_order_id=cid, reason="demo: re-quote")])
        if rng.random() < 0.1:
            free = Decimal(rng.randint(90_000, 110_000))
            await self._append([BalanceUpdated(
                ts_ns=time.time_ns(), asset=Asset("USDT"), free=free, used=Decimal(0),
                cause="demo: exchange balance")])
