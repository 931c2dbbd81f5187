"""The observer hooks the runtime feeds its metrics from, each on the real thing: the
group commit of a real SQLite store, the session's tracked gateway on the simulator,
the health job's reconciliation readings from the journal's listener, and health
statuses that come and go."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tradeguard.app.health_job import HealthJob
from tradeguard.app.service import LocalService
from tradeguard.config import Config
from tradeguard.domain.events import ReconciliationReported, SessionStarted
from tradeguard.errors import OrderNotFoundError
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.health.checks import Check, HealthConfig
from tradeguard.metrics import TradeguardMetrics
from tradeguard.reconcile.report import ReconcileReport
from tradeguard.session.exchange_status import ExchangeStatus, TrackedGateway
from tradeguard.session.reconciling import ReconcileStatus
from tradeguard.storage import open_store
from tradeguard.storage.codec import encode_event
from tradeguard.storage.writerstore import WriterStore


async def test_every_commit_reports_the_records_it_made_durable(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'data'}", session_id="s", create=True)
    assert isinstance(store, WriterStore)
    sizes: list[int] = []
    with store:
        epoch = store.advance_epoch()
        store.writer.on_commit = sizes.append  # the writer thread calls it
        appends = [
            [encode_event(SessionStarted(ts_ns=i, session_id="s", run_id=f"r{i}"))] * (1 + i % 3)
            for i in range(60)
        ]
        # Queued in one go: the writer takes several per transaction.
        await asyncio.gather(*(store.submit_async(a, epoch=epoch) for a in appends))
        # Counted before the callers were answered: nothing to wait for.
        assert sum(sizes) == sum(len(a) for a in appends)
        assert len(sizes) <= len(appends)
        assert len(sizes) == store.stats().commits - 1  # the epoch's commit had no record


async def test_the_tracked_gateway_times_requests_by_endpoint(gateway: CcxtGateway) -> None:
    status = ExchangeStatus()
    heard: list[tuple[str, float]] = []
    status.add_request_observer(lambda endpoint, seconds: heard.append((endpoint, seconds)))
    status.add_request_observer(lambda endpoint, seconds: 1 / 0)  # ignored, never raised
    tracked = TrackedGateway(gateway, status)
    await tracked.load_markets()
    await tracked.load_markets()  # from the cache: no request, nothing timed
    await tracked.fetch_ticker("BTC/USDT")
    with pytest.raises(OrderNotFoundError):  # an answer all the same, and timed
        await tracked.fetch_order("BTC/USDT", client_order_id="tg-none")
    assert [endpoint for endpoint, _ in heard] == ["load_markets", "fetch_ticker", "fetch_order"]
    assert all(seconds > 0 for _, seconds in heard)
    assert status.calls == 3


def test_a_check_left_out_of_a_round_loses_its_series() -> None:
    metrics = TradeguardMetrics(process_collector=False)

    def check(name: str, status: str) -> Check:
        return Check(name=name, status=status, value=1, threshold=1, detail="")  # type: ignore[arg-type]

    metrics.observe_health([check("journal_append_p99_seconds", "critical"),
                            check("disk_free_bytes", "ok")])
    metrics.observe_health([check("disk_free_bytes", "warn")])  # an idle minute
    text = metrics.exposition().decode()
    assert 'tradeguard_health_check_status{check="disk_free_bytes"} 1.0' in text
    assert "journal_append_p99_seconds" not in text


def _report(finished_ns: int, *, complete: bool, flags: tuple[str, ...] = ()) -> ReconcileReport:
    return ReconcileReport(
        started_ns=finished_ns, finished_ns=finished_ns, duration_ms=1.0, dry_run=False,
        complete=complete, symbols=("BTC/USDT",), checked=(), orders_compared=0,
        unchecked=(), failures=(), discrepancies=(), found={}, events_planned=0,
        events_journaled=0, event_types={}, flags_raised=flags, critical_flags=(),
        waiting=(),
    )


async def test_the_health_round_knows_the_last_reconciliation_without_a_scan(
    store_config: Config, gateway: CcxtGateway
) -> None:
    # The journal holds no report at all: what the round judges came from the session
    # (the start-up run) and then from the journal's listener, never from a scan.
    service = await LocalService.start(store_config, store_config.storage.url)
    try:
        now = time.time_ns()
        status = ReconcileStatus(at_ns=now, complete=True, discrepancies=0, flags_raised=0,
                                 events_journaled=0, duration_ms=1.0,
                                 report=_report(now, complete=True))
        job = HealthJob(service=service, gateway=gateway, thresholds=HealthConfig(),
                        data_dir=None, last_reconcile=status)
        await job.start()
        try:
            first = {c.name: c for c in (await job.run()).checks}
            assert first["reconciliation_age_seconds"].status == "ok", first
            await service.append([ReconciliationReported(
                ts_ns=time.time_ns(), complete=False, duration_us=5, symbols=("BTC/USDT",),
                checked=(), unchecked=("balances: timeout",), failures=(), found=(),
                events_journaled=0, flags_raised=())])
            second = {c.name: c for c in (await job.run()).checks}
            recon = second["reconciliation_age_seconds"]
            assert recon.status == "warn", recon
            assert "incomplete" in recon.detail, recon
        finally:
            await job.stop()
    finally:
        await service.close()


async def test_without_a_known_run_the_round_reads_the_journal_once_more(
    store_config: Config, gateway: CcxtGateway
) -> None:
    service = await LocalService.start(store_config, store_config.storage.url)
    try:
        job = HealthJob(service=service, gateway=gateway, thresholds=HealthConfig(),
                        data_dir=None)
        checks = {c.name: c for c in (await job.run()).checks}
        recon = checks["reconciliation_age_seconds"]
        assert recon.status == "warn"
        assert "no reconciliation report" in recon.detail, recon
    finally:
        await service.close()
