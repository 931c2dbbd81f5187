"""SessionJournal: state and journal stay in step, batches are atomic, failures stop it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path

import pytest

from tradeguard.domain.enums import MarketKind, OrderType, Side
from tradeguard.domain.events import (
    AnyEvent,
    InstrumentRegistered,
    OrderAcknowledged,
    OrderIntended,
)
from tradeguard.domain.ids import Asset, ExchangeOrderId, Symbol, make_client_order_id
from tradeguard.domain.state import SessionState
from tradeguard.errors import DomainError, StaleEpochError, StoreError, StoreFailedError
from tradeguard.recovery.manager import recover
from tradeguard.storage import open_store
from tradeguard.storage.base import Store
from tradeguard.storage.journal import SessionJournal, SnapshotPolicy
from tradeguard.storage.records import AppendResult, NewRecord

SYM = Symbol("BTC/USDT")


def intent(seq: int) -> OrderIntended:
    return OrderIntended(
        ts_ns=time.time_ns(),
        client_order_id=make_client_order_id("t", seq),
        symbol=SYM,
        kind=MarketKind.SPOT,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal("0.01"),
        price=Decimal(100 + seq),
    )


def ack(seq: int) -> OrderAcknowledged:
    return OrderAcknowledged(
        ts_ns=time.time_ns(),
        client_order_id=make_client_order_id("t", seq),
        exchange_order_id=ExchangeOrderId(f"x{seq}"),
    )


def instrument() -> InstrumentRegistered:
    return InstrumentRegistered(
        ts_ns=1, symbol=SYM, kind=MarketKind.SPOT, base=Asset("BTC"), quote=Asset("USDT")
    )


def open_journal(path: Path, **policy: float) -> SessionJournal:
    store = open_store(path)
    state, _ = recover(store)
    return SessionJournal(
        store,
        state,
        epoch=store.advance_epoch(),
        snapshot_policy=SnapshotPolicy(**policy),  # type: ignore[arg-type]
        log_events=False,
    )


async def test_concurrent_appends_keep_state_in_sequence_order(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    await journal.append([instrument()])

    async def trader() -> None:
        for _ in range(25):
            seq = journal.next_seq  # the intent's own seq, no await before append
            await journal.append([intent(seq)])
            await journal.append([ack(seq)])

    await asyncio.gather(*(trader() for _ in range(16)))
    assert journal.state.last_seq == 1 + 16 * 25 * 2
    assert journal.store.stats().commits < journal.state.last_seq  # commits were shared
    restored, _ = recover(journal.store, write=False)
    assert restored == journal.state
    journal.store.close()


async def test_invalid_batch_writes_nothing_and_changes_nothing(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    await journal.append([instrument(), intent(2)])
    before = journal.state.copy()
    # The third event acknowledges an order that does not exist: the whole batch fails.
    with pytest.raises(DomainError):
        await journal.append([intent(4), ack(4), ack(99)])
    assert journal.state == before
    assert journal.store.last_seq() == 2
    assert journal.failed is None
    await journal.append([ack(2)])  # the journal goes on
    assert journal.store.last_seq() == 3
    journal.store.close()


class FailingStore:
    """Wraps a real store; its submit fails like an fsync error (unknown outcome)."""

    def __init__(self, inner: Store, exc: Exception) -> None:
        self.inner = inner
        self.exc = exc

    def last_seq(self) -> int:
        return self.inner.last_seq()

    def submit(self, records: Sequence[NewRecord], *, epoch: int) -> Future[AppendResult]:
        future: Future[AppendResult] = Future()
        future.set_exception(self.exc)
        return future

    def submit_async(
        self, records: Sequence[NewRecord], *, epoch: int
    ) -> asyncio.Future[AppendResult]:
        return asyncio.wrap_future(self.submit(records, epoch=epoch))


@pytest.mark.parametrize("exc", [StoreFailedError("fsync failed"), StaleEpochError("epoch 3")])
async def test_store_failure_stops_the_journal_for_good(tmp_path: Path, exc: Exception) -> None:
    store = open_store(tmp_path)
    journal = SessionJournal(
        FailingStore(store, exc),
        SessionState(),
        epoch=0,  # type: ignore[arg-type]
        log_events=False,
    )
    with pytest.raises(type(exc)):
        await journal.append([instrument()])
    assert journal.failed is exc
    with pytest.raises(StoreFailedError, match="stopped after an earlier failure"):
        await journal.append([intent(2)])
    store.close()


async def test_stale_writer_is_fenced_by_a_new_one(tmp_path: Path) -> None:
    old = open_journal(tmp_path)
    await old.append([instrument()])
    new_store = open_store(tmp_path)
    new_epoch = new_store.advance_epoch()
    with pytest.raises(StaleEpochError):
        await old.append([intent(2)])
    assert old.failed is not None
    assert new_store.last_seq() == 1
    state, _ = recover(new_store)
    new = SessionJournal(new_store, state, epoch=new_epoch, log_events=False)
    await new.append([intent(2)])
    assert new_store.last_seq() == 2
    old.store.close()
    new_store.close()


def test_journal_refuses_a_state_behind_the_store(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    from tradeguard.storage.codec import encode_event

    store.append([encode_event(instrument())], epoch=store.advance_epoch())
    with pytest.raises(StoreError, match="run recovery first"):
        SessionJournal(store, SessionState(), epoch=store.current_epoch())
    store.close()


async def test_snapshots_every_n_events_keep_k(tmp_path: Path) -> None:
    journal = open_journal(tmp_path, every_events=10, every_seconds=3600, keep=2)
    events: list[AnyEvent] = [instrument()]
    await journal.append(events)
    for seq in range(2, 60):
        await journal.append([intent(seq)])
    await journal.close()
    snaps = journal.store.snapshots()
    assert len(snaps) == 2
    assert snaps[0].seq >= 50
    restored, report = recover(journal.store, write=False)
    assert restored == journal.state
    assert report.snapshot_seq == snaps[0].seq
    journal.store.close()


async def test_snapshot_by_time(tmp_path: Path) -> None:
    journal = open_journal(tmp_path, every_events=10**9, every_seconds=0.05, keep=3)
    await journal.append([instrument()])
    await asyncio.sleep(0.1)
    await journal.append([intent(2)])
    await journal.close()
    assert [s.seq for s in journal.store.snapshots()] == [2]
    journal.store.close()


async def test_cancelled_caller_does_not_stop_the_journal(tmp_path: Path) -> None:
    """A task cancelled while its append commits (e.g. at shutdown) is not a store failure."""
    journal = open_journal(tmp_path)
    await journal.append([instrument()])
    with journal.store.writer.paused():  # type: ignore[attr-defined]
        task = asyncio.create_task(journal.append([intent(2)]))
        await asyncio.sleep(0.05)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert journal.failed is None
    assert journal.stats().committed_seq == 2
    await journal.append([ack(2)])
    restored, _ = recover(journal.store, write=False)
    assert restored == journal.state
    journal.store.close()


async def test_append_nowait_applies_at_once_and_becomes_durable(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    await journal.append([instrument(), intent(2)])
    with journal.store.writer.paused():  # type: ignore[attr-defined]
        done = journal.append_nowait([ack(2)])
        order = journal.state.order("t-2")
        assert order is not None
        assert order.exchange_order_id == "x2"  # applied before it is durable
        assert journal.store.last_seq() == 2
        with pytest.raises(DomainError):  # refused at once, nothing queued
            journal.append_nowait([ack(99)])
    result = await done
    assert result.first_seq == 3
    assert journal.store.last_seq() == 3
    assert journal.stats().committed_seq == 3
    journal.store.close()
