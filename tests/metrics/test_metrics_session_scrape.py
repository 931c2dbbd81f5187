"""A real session on the simulator, its metrics fed from its journal and state, scraped
over real HTTP from ``MetricsServer`` and parsed with prometheus-client's parser.

Every figure asserted follows from what the session did: its journal (read back from
disk), its state, or a request this test timed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gwhelpers import Admin
from metricscrape import scrape
from prometheus_client import CONTENT_TYPE_LATEST
from sessionfixtures import open_session

from simfixtures import make_ccxt
from tradeguard.config import Config
from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.events import ReconciliationReported
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.health.checks import Check
from tradeguard.metrics import (
    MetricsServer,
    StateReading,
    TradeguardMetrics,
    observe_journal_records,
    parse_found,
    reading_of,
)
from tradeguard.sim import SimulatorThread

SPOT_ORDER = "/api/v3/order"
SNAPSHOT_AGE_NS = 5_000_000_000


async def test_scraped_metrics_follow_what_the_session_did(
    store_config: Config,
    gateway: CcxtGateway,
    admin: Admin,
    sim: SimulatorThread,
    journal_on_disk: Callable[[], list[tuple[int, Any]]],
) -> None:
    session = await open_session(store_config, gateway)
    snapshot_ns: list[int] = []

    def state() -> StateReading:
        return reading_of(
            session.state, last_snapshot_ns=snapshot_ns[-1] if snapshot_ns else None
        )

    # The clock of the ages: a fixed distance after the snapshot, so the age is exact.
    metrics = TradeguardMetrics(
        state, clock_ns=lambda: (snapshot_ns[-1] if snapshot_ns else 0) + SNAPSHOT_AGE_NS
    )
    fed_to = 0

    def feed() -> int:
        # As the runtime will: each record once, in order, after it is durable.
        nonlocal fed_to
        new = [(seq, event) for seq, event in journal_on_disk() if seq > fed_to]
        observe_journal_records(metrics, new)
        if new:
            fed_to = new[-1][0]
        return len(new)

    try:
        async with MetricsServer(metrics, port=0) as server:
            assert server.port != 0
            acked = [
                await session.submit_order(
                    "BTC/USDT", "sell", "limit", Decimal("0.001"), Decimal(70000 + i)
                )
                for i in range(3)
            ]
            assert [o.status for o in acked] == [OrderStatus.OPEN] * 3
            rejected = await session.submit_order(  # 6,000,000 USDT: insufficient balance
                "BTC/USDT", "buy", "limit", Decimal(100), Decimal(60000)
            )
            assert rejected.status is OrderStatus.REJECTED
            await admin.fault(SPOT_ORDER, "process_then_fail", method="POST")
            ambiguous = await session.submit_order(
                "BTC/USDT", "sell", "limit", Decimal("0.002"), Decimal(71000)
            )
            assert ambiguous.status is OrderStatus.UNKNOWN
            # A cancel whose answer is lost journals OrderOutcomeUnknown too: no submit.
            await admin.fault(SPOT_ORDER, "process_then_fail", method="DELETE")
            lost_cancel = await session.cancel_order(acked[0].client_order_id)
            assert lost_cancel.status is OrderStatus.UNKNOWN
            for _ in range(2):
                began = time.perf_counter()
                await session.ticker("BTC/USDT")
                metrics.observe_exchange_request("fetch_ticker", time.perf_counter() - began)
            metrics.observe_health([
                Check(name="rss_bytes", status="ok", value=1, threshold=2, detail="ok"),
                Check(name="unknown_orders", status="warn", value=2, threshold=1,
                      detail="2 UNKNOWN orders"),
            ])
            fed_first = feed()

            first = await scrape(server.url)
            assert first.content_type == CONTENT_TYPE_LATEST
            assert first.value("tradeguard_submits_total", outcome="acked") == 3
            assert first.value("tradeguard_submits_total", outcome="rejected") == 1
            assert first.value("tradeguard_submits_total", outcome="ambiguous") == 1
            assert first.value("tradeguard_events_appended_total") == fed_first
            assert first.value("tradeguard_unknown_orders") == 2  # the submit, the cancel
            assert first.value("tradeguard_orders", status="unknown") == 2
            assert first.value("tradeguard_orders", status="open") == 2
            assert first.value("tradeguard_orders", status="rejected") == 1
            assert first.value("tradeguard_health_check_status", check="rss_bytes") == 0
            assert first.value("tradeguard_health_check_status", check="unknown_orders") == 1
            assert first.value(
                "tradeguard_exchange_request_seconds_count", endpoint="fetch_ticker") == 2
            assert first.families["tradeguard_exchange_request_seconds"].type == "histogram"
            assert first.value("tradeguard_open_flags", severity="warning") == 0
            assert first.value("tradeguard_open_flags", severity="critical") == 0
            # No snapshot yet: the series is absent, not a made-up zero.
            assert first.samples("tradeguard_last_snapshot_age_seconds") == []
            assert first.value("process_open_fds") > 0  # the process collector is there

            # An order placed behind the session's back: reconciliation finds it.
            raw = make_ccxt(sim.url)
            try:
                await raw.create_order("BTC/USDT", "limit", "sell", 0.001, 72000.0,
                                       {"clientOrderId": "behind-our-back-1"})
            finally:
                await raw.close()
            # The resolver adopts the ambiguous order (OPEN) and the canceled one.
            await session.resolve_unknown_orders(force=True)
            status = await session.reconcile_now()
            snapshot_seq = await session.service.journal.snapshot()  # type: ignore[attr-defined]
            assert snapshot_seq is not None
            infos = session.service.journal.store.snapshots()  # type: ignore[attr-defined]
            snapshot_ns.append(max(s.ts_ns for s in infos))
            fed_second = feed()
            reports = [e for _, e in journal_on_disk() if isinstance(e, ReconciliationReported)]

            second = await scrape(server.url)
            # Resolutions answer no submit: the outcomes are those of the first scrape.
            assert second.value("tradeguard_submits_total", outcome="acked") == 3
            assert second.value("tradeguard_submits_total", outcome="ambiguous") == 1
            assert second.value("tradeguard_events_appended_total") == fed_first + fed_second
            assert second.value("tradeguard_unknown_orders") == 0
            open_now = session.open_orders()
            assert {o.status for o in open_now} == {OrderStatus.OPEN}
            assert second.value("tradeguard_orders", status="open") == len(open_now)
            assert second.value("tradeguard_orders", status="canceled") == 1
            # Every reconciliation report the journal holds (opening's and this one).
            complete = sum(1 for r in reports if r.complete)
            assert status is not None
            assert second.value("tradeguard_reconciliations_total", result="complete") == complete
            assert second.value(
                "tradeguard_reconciliations_total", result="incomplete") == len(reports) - complete
            assert second.value("tradeguard_reconciliation_seconds_count") == len(reports)
            assert second.value("tradeguard_reconciliation_seconds_sum") == sum(
                r.duration_us / 1e6 for r in reports)
            found: Counter[str] = Counter()
            for report in reports:
                found.update(parse_found(report.found))
            assert found, reports  # the external order was found
            for kind, count in found.items():
                assert second.value("tradeguard_discrepancies_total", type=kind) == count
            assert second.value("tradeguard_last_snapshot_age_seconds") == 5.0
            assert second.value("tradeguard_last_snapshot_timestamp_seconds") == (
                snapshot_ns[-1] / 1e9)
    finally:
        await session.close()
