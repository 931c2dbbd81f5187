"""The trader the chaos harness kills: the demo session, with a checkpoint and ack reports.

Run as ``python -m tradeguard.chaos.trader --data-dir DIR --exchange-url URL``. It is
the service runtime (``tradeguard.app.runtime.Runtime``, what ``tradeguard run`` runs)
with the sample grid, plus three things the harness needs, all in the strategy so the
session code path stays the real one:

- after the session's own startup recovery, ``on_start`` lets UNKNOWN resolution
  finish, reconciles once more, prints ``CHECKPOINT <json>`` (a :class:`Checkpoint`) and
  waits for a line on stdin before trading: the exchange is still while it is checked;
- every order the strategy sees acknowledged is printed as ``ACK <client id>``;
- ``TRADEGUARD_CHAOS_BROKEN=skip_write_ahead`` swaps in a deliberately broken sender that
  sends first and journals after (the canary that proves the harness bites).

Crash points (``TRADEGUARD_CRASH_POINT``) live in ``tradeguard.session.orders``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec

from tradeguard.chaos.checks import Checkpoint, LocalBalance, LocalOrder
from tradeguard.domain.enums import OrderStatus, OrderType, Side
from tradeguard.domain.events import OrderAcknowledged, OrderIntended, OrderRejected
from tradeguard.domain.ids import Symbol, make_client_order_id
from tradeguard.errors import DomainError, ExchangeError
from tradeguard.session.config import SessionSettings
from tradeguard.session.orders import OrderSender, crash_point
from tradeguard.strategies.grid import Grid

if TYPE_CHECKING:
    from tradeguard.domain.orders import Order
    from tradeguard.session.reconciling import ReconcileStatus
    from tradeguard.session.session import Session

__all__ = ["BROKEN_ENV", "ChaosGrid", "SendFirstSender", "chaos_settings", "main"]

BROKEN_ENV = "TRADEGUARD_CHAOS_BROKEN"
"""Environment variable selecting a deliberately broken variant (canary runs only)."""

_ACKNOWLEDGED = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})
_RESOLVE_ROUNDS = 40


def chaos_settings(prefix: str) -> SessionSettings:
    """Fast cadence for short run windows; a grace period fit for a local simulator.

    The simulator handles a request the moment it reads it, so an order it does not
    know one second after the intent was never placed (a real exchange needs ~30 s).
    """
    return SessionSettings(
        client_id_prefix=prefix,
        poll_interval_seconds=0.2,
        tick_interval_seconds=0.2,
        unknown_grace_seconds=1.0,
        resolve_backoff_initial_seconds=0.1,
        resolve_backoff_max_seconds=0.5,
    )


def _say(line: str) -> None:
    # One write per line so a SIGKILL never leaves half a line for the harness.
    os.write(1, (line + "\n").encode())


class _AckReporter:
    """The session as the grid sees it, reporting every acknowledged submit."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def submit_order(self, *args: Any, **kwargs: Any) -> Order:
        order = await self._session.submit_order(*args, **kwargs)
        if order.status in _ACKNOWLEDGED:
            _say(f"ACK {order.client_order_id}")
        return order


class ChaosGrid(Grid):
    """The sample grid with the harness's checkpoint and ack reports."""

    async def on_start(self, session: Session) -> None:
        """Finish resolution, reconcile, print the checkpoint, wait for the go."""
        await super().on_start(session)
        if os.environ.get(BROKEN_ENV) == "skip_write_ahead":
            old = session.sender
            session.sender = SendFirstSender(
                old.service, old.gateway, old.prefix, in_flight=session.in_flight
            )
        for _ in range(_RESOLVE_ROUNDS):
            if not session.resolver.pending():
                break
            await session.resolve_unknown_orders(force=True)
            if session.resolver.pending():
                await asyncio.sleep(0.1)
        status = await session.reconcile_now()
        _say("CHECKPOINT " + msgspec.json.encode(_checkpoint(session, status)).decode())
        await asyncio.to_thread(sys.stdin.readline)

    async def on_tick(self, session: Session) -> None:
        """The grid's tick, with acknowledged orders reported on stdout."""
        await super().on_tick(cast("Session", _AckReporter(session)))


def _checkpoint(session: Session, status: ReconcileStatus) -> Checkpoint:
    state = session.state
    startup = session.startup
    return Checkpoint(
        prefix=session.prefix,
        unclean_shutdown=bool(startup and startup.unclean_shutdown),
        orders={
            cid: LocalOrder(
                symbol=o.symbol,
                side=o.side.value,
                status=o.status.value,
                filled=o.filled,
                exchange_order_id=o.exchange_order_id,
            )
            for cid, o in state.orders.items()
        },
        unresolved=[o.client_order_id for o in state.unresolved_orders()],
        positions={s: p.size for s, p in state.positions.items()},
        balances={a: LocalBalance(free=b.free, used=b.used) for a, b in state.balances.items()},
        open_flags=[f"{f.flag_id} {f.kind}: {f.message}" for f in state.open_flags()],
        reconcile_complete=status.complete,
        reconcile_error=status.error,
        recovery_errors=list(startup.recovery_errors) if startup else [],
    )


class SendFirstSender(OrderSender):
    """DELIBERATELY BROKEN (canary): sends the order, journals the intent afterwards.

    This is what most bots do. Killed between the exchange's answer and the journal
    write, the order lives on the exchange with an id the journal never heard of.
    """

    async def submit(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        reduce_only: bool = False,
        trigger_price: Decimal | None = None,
    ) -> Order:
        """Send, then journal intent and outcome together (the bug under test)."""
        self._check_not_blocked(symbol)
        instrument = self.service.state.instruments[Symbol(symbol)]
        cid = make_client_order_id(self.prefix, self.service.next_seq)
        intent = OrderIntended(
            ts_ns=time.time_ns(),
            client_order_id=cid,
            symbol=Symbol(symbol),
            kind=instrument.kind,
            side=Side(side),
            order_type=OrderType(order_type),
            amount=amount,
            price=price,
            reduce_only=reduce_only,
            trigger_price=trigger_price,
        )
        try:
            report = await self.gateway.create_order(
                symbol, side, order_type, amount, price, client_order_id=cid,
                trigger_price=trigger_price,
            )
        except ExchangeError as exc:
            outcome: Any = OrderRejected(ts_ns=time.time_ns(), client_order_id=cid, reason=str(exc))
        else:
            crash_point("after_exchange_ack")
            outcome = OrderAcknowledged(
                ts_ns=time.time_ns(),
                client_order_id=cid,
                exchange_order_id=report.exchange_order_id,
            )
        await self.service.append([intent, outcome])
        order = self.service.state.order(cid)
        if order is None:
            raise DomainError(f"order {cid!r} vanished from the state")
        return order


async def _trade(data_dir: Path, exchange_url: str, prefix: str) -> None:
    from tradeguard.app.runtime import Runtime
    from tradeguard.config import Config, ReconcileSettings, StorageSettings, StrategySettings
    from tradeguard.storage.url import store_url_for_dir
    from tradeguard.web.config import HttpSettings

    config = Config(
        storage=StorageSettings(
            url=store_url_for_dir(data_dir),
            backup_every_seconds=86_400.0,
            backup_dir=str(data_dir / "backups"),
        ),
        reconcile=ReconcileSettings(interval_seconds=1.0),
        strategy=StrategySettings(class_="tradeguard.chaos.trader:ChaosGrid"),
    )
    async with Runtime(
        config,
        config.storage.url,
        exchange_url=exchange_url,
        settings=chaos_settings(prefix),
        backup_dir=data_dir / "backups",
        # No dashboard: the harness reads the store, never the page, and SIGKILLs the
        # trader over and over; a port would only slow each start and could collide
        # (parallel test workers, a developer's `make run` on the default port).
        http=HttpSettings(enabled=False),
    ) as runtime:
        await runtime.wait()
    runtime.raise_for_failure()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the chaos trader subprocess (stops cleanly on SIGTERM)."""
    from tradeguard.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m tradeguard.chaos.trader")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--exchange-url", required=True)
    parser.add_argument("--prefix", default="tgchaos")
    args = parser.parse_args(argv)
    configure_logging(level="warning", fmt="json")
    asyncio.run(_trade(args.data_dir, args.exchange_url, args.prefix))


if __name__ == "__main__":
    main()
