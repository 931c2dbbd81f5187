"""``/metrics`` of a real running service: a Runtime on the built-in simulator and a real
SQLite store, its HTTP port bound on 127.0.0.1 (port 0), scraped over real HTTP and
parsed with prometheus-client's parser.

The series asserted move because the service did something: an order submitted and
acknowledged, the exchange asked, health rounds run, a backup taken, the writer fenced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Literal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tradeguard.app.runtime import Runtime
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.domain.enums import OrderStatus
from tradeguard.domain.orders import Order
from tradeguard.health.checks import HealthConfig
from tradeguard.session import Session, SessionSettings
from tradeguard.storage import open_store
from tradeguard.web.config import HttpSettings

FAST = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1)


class Idle:
    """A strategy that trades nothing: every order of the test is the test's own."""

    async def on_start(self, session: Session) -> None:
        del session

    async def on_tick(self, session: Session) -> None:
        del session

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        del order
        return "drop"


class Scraped:
    """One parsed scrape: every sample as ``(name, labels) -> value``."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.values = {
            (s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for f in self.families.values() for s in f.samples
        }

    def value(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        assert key in self.values, f"{name}{labels} not scraped"
        return self.values[key]

    def labels_of(self, name: str, label: str) -> set[str]:
        return {dict(k[1])[label] for k in self.values if k[0] == name and k[1]}


async def scrape(base_url: str) -> Scraped:
    async with aiohttp.ClientSession() as client, client.get(f"{base_url}/metrics") as answer:
        assert answer.status == 200, await answer.text()
        assert answer.headers["Content-Type"].startswith("text/plain")
        return Scraped(await answer.text())


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a generous bound only so a broken build fails, not hangs)."""
    for _ in range(1200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def _config(tmp_path: Path) -> Config:
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}", backup_every_seconds=0.3,
            backup_dir=str(tmp_path / "backups"),
        ),
        reconcile=ReconcileSettings(interval_seconds=0.2),
        health=HealthConfig(interval_seconds=0.2),
    )


async def test_metrics_of_a_running_service_follow_what_it_did(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runtime = Runtime(config, config.storage.url, settings=FAST, http=HttpSettings(port=0),
                      strategy=Idle(), handle_signals=False)
    async with runtime:
        assert runtime.http_url is not None
        order = await runtime.session.submit_order(
            "BTC/USDT", "sell", "limit", Decimal("0.001"), Decimal(70000)
        )
        assert order.status is OrderStatus.OPEN
        await until(lambda: runtime.health is not None and runtime.service.backups_taken > 0,
                    "a health round ran and a backup was taken")
        first = await scrape(runtime.http_url)

        # The journal: every append counted and timed, the commits sized.
        assert first.value("tradeguard_events_appended_total") > 0
        assert first.value("tradeguard_journal_append_seconds_count") > 0
        assert first.value("tradeguard_group_commit_batch_size_count") > 0
        assert first.value("tradeguard_group_commit_batch_size_sum") >= first.value(
            "tradeguard_group_commit_batch_size_count"
        )
        # The submit, by the exchange's answer; the others stay at zero.
        assert first.value("tradeguard_submits_total", outcome="acked") == 1
        assert first.value("tradeguard_submits_total", outcome="rejected") == 0
        assert first.value("tradeguard_submits_total", outcome="ambiguous") == 0
        # The exchange, by endpoint (the operation, never the symbol).
        endpoints = first.labels_of("tradeguard_exchange_request_seconds_count", "endpoint")
        assert {"create_order", "fetch_time_ns"} <= endpoints
        assert first.value("tradeguard_exchange_request_seconds_count",
                           endpoint="create_order") == 1
        # Reconciliation: the start-up run at least, complete.
        assert first.value("tradeguard_reconciliations_total", result="complete") >= 1
        # State read at the scrape: the open order, no UNKNOWN, no open flag.
        assert first.value("tradeguard_orders", status="open") == 1
        assert first.value("tradeguard_unknown_orders") == 0
        assert sum(first.value("tradeguard_open_flags", severity=s)
                   for s in first.labels_of("tradeguard_open_flags", "severity")) == 0
        assert first.value("tradeguard_last_backup_timestamp_seconds") > 0
        assert first.value("tradeguard_last_backup_age_seconds") >= 0
        assert first.value("tradeguard_lease_held") == 1
        assert first.value("tradeguard_lease_epoch") == runtime.service.journal.epoch
        # One health status per check of the latest round.
        report = runtime.health
        assert report is not None
        checks = first.labels_of("tradeguard_health_check_status", "check")
        assert {c.name for c in report.checks} <= checks
        assert {"exchange_reachable", "reconciliation_age_seconds"} <= checks
        # The health round knew the last reconciliation without scanning the journal.
        by_name = {c.name: c for c in report.checks}
        assert by_name["reconciliation_age_seconds"].status == "ok", by_name
        # The process collector is there too.
        assert first.value("process_resident_memory_bytes") > 0

        # Counters move: more appends, more exchange requests.
        events, requests = (first.value("tradeguard_events_appended_total"),
                            first.value("tradeguard_exchange_request_seconds_count",
                                        endpoint="fetch_time_ns"))
        rounds = runtime.jobs.status("health")
        assert rounds is not None
        seen = rounds.runs
        await until(lambda: (s := runtime.jobs.status("health")) is not None and s.runs > seen,
                    "another health round")
        # A round appends only when a check changes: journal something for certain.
        await runtime.session.submit_order(
            "BTC/USDT", "sell", "limit", Decimal("0.001"), Decimal(70001)
        )
        second = await scrape(runtime.http_url)
        assert second.value("tradeguard_events_appended_total") > events
        assert second.value("tradeguard_exchange_request_seconds_count",
                            endpoint="fetch_time_ns") > requests

        # Another writer takes the epoch: the lease is lost, the gauge says so.
        other = open_store(config.storage.url, session_id=config.storage.session_id)
        with other:
            other.advance_epoch()
        await runtime.wait()  # the session stops by itself once fenced
        fenced = await scrape(runtime.http_url)
        assert fenced.value("tradeguard_lease_held") == 0
