"""The runtime's health job on the built-in simulator and a real SQLite store: a check
that changes is journaled (``HealthChanged``) both ways, and the latest report is kept."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradeguard.app.health_job import changes_between
from tradeguard.app.runtime import Runtime
from tradeguard.config import Config, ReconcileSettings, StorageSettings
from tradeguard.domain.events import HealthChanged
from tradeguard.health.checks import Check, HealthConfig
from tradeguard.session import SessionSettings
from tradeguard.storage.codec import decode_records
from tradeguard.web.config import HttpSettings

FAST = SessionSettings(poll_interval_seconds=0.1, tick_interval_seconds=0.1)


def health_config(tmp_path: Path, **extra: Any) -> Config:
    """A config whose health rounds run every 0.2 s (and no dashboard: no fixed port)."""
    extra.setdefault("http", HttpSettings(enabled=False))
    return Config(
        storage=StorageSettings(
            url=f"sqlite:///{tmp_path / 'data'}", backup_dir=str(tmp_path / "backups")
        ),
        reconcile=ReconcileSettings(interval_seconds=0.2),
        health=HealthConfig(interval_seconds=0.2),
        **extra,
    )


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a generous bound only so a broken build fails, not hangs)."""
    for _ in range(1200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def sim_url(runtime: Runtime) -> str:
    """The built-in simulator's base URL (from ``Runtime.where``)."""
    return runtime.where.split(" at ", 1)[1].split()[0]


async def fault(url: str, body: dict[str, Any] | None) -> None:
    """Arm a simulator fault (``None``: clear them all) through its admin API."""
    request = urllib.request.Request(
        f"{url}/_sim/faults", method="POST" if body else "DELETE",
        data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"},
    )

    def send() -> None:
        with urllib.request.urlopen(request, timeout=10):
            pass

    await asyncio.to_thread(send)


def status_of(runtime: Runtime, check: str) -> str | None:
    """The status of ``check`` in the runtime's latest health report."""
    report = runtime.health
    if report is None:
        return None
    return next((c.status for c in report.checks if c.name == check), None)


def health_changes(runtime: Runtime) -> list[HealthChanged]:
    """Every ``HealthChanged`` journaled so far, in order."""
    return [
        event for _, event in decode_records(runtime.service.store.read())
        if isinstance(event, HealthChanged)
    ]


DROP_TIME = {"path": "/api/v3/time", "action": "drop", "count": 1_000_000}


async def test_exchange_unreachable_then_back_is_journaled_both_ways(tmp_path: Path) -> None:
    config = health_config(tmp_path)
    async with Runtime(config, config.storage.url, settings=FAST,
                       handle_signals=False) as runtime:
        await until(lambda: status_of(runtime, "exchange_reachable") == "ok", "a first round")
        report = runtime.health
        assert report is not None
        # The session journaled its start-up: the append latency is judged.
        p99 = next(c for c in report.checks if c.name == "journal_append_p99_seconds")
        assert p99.status == "ok", p99
        assert isinstance(p99.value, float)
        assert 0 < p99.value < HealthConfig().journal_append_latency_critical_seconds
        first = health_changes(runtime)
        # The first round journals only what is not ok, each without a previous status.
        assert all(c.previous == "" and c.status != "ok" for c in first), first

        await fault(sim_url(runtime), DROP_TIME)
        await until(lambda: status_of(runtime, "exchange_reachable") == "critical",
                    "exchange_reachable critical")
        await fault(sim_url(runtime), None)
        await until(lambda: status_of(runtime, "exchange_reachable") == "ok",
                    "exchange_reachable ok again")

        def journaled() -> list[tuple[str, str]]:
            return [(c.previous, c.status) for c in health_changes(runtime)
                    if c.check == "exchange_reachable"]

        await until(lambda: len(journaled()) >= 2, "both changes journaled")
        assert journaled() == [("ok", "critical"), ("critical", "ok")]
        down = next(c for c in health_changes(runtime) if c.check == "exchange_reachable")
        assert down.detail.startswith("exchange unreachable: "), down.detail
        assert json.loads(down.value) is False
        assert runtime.job_status("health") is not None
        assert runtime.jobs.snapshot()["health"].failures == 0


def test_changes_between_rounds() -> None:
    ok = Check(name="a", status="ok", value=1, threshold=2, detail="fine")
    warn = Check(name="b", status="warn", value=3.5, threshold=2, detail="high")
    first = changes_between(None, (ok, warn), 7)
    assert [(c.check, c.previous, c.status, c.value, c.ts_ns) for c in first] == [
        ("b", "", "warn", "3.5", 7)
    ]
    assert changes_between({"a": "ok", "b": "warn"}, (ok, warn), 8) == []
    back = changes_between({"a": "critical", "b": "warn"}, (ok, warn), 9)
    assert [(c.check, c.previous, c.status) for c in back] == [("a", "critical", "ok")]


def test_the_live_tables_health_line_fits_80_columns() -> None:
    from rich.console import Console

    from tradeguard.cli.live_view import HEALTH_LINE_WIDTH, health_line
    from tradeguard.health.monitor import HealthReport

    def check(name: str, status: str) -> Check:
        return Check(name=name, status=status, value=None, threshold=None,  # type: ignore[arg-type]
                     detail="")

    assert health_line(None).plain == "not checked yet"
    fine = HealthReport(status="ok", ts_ns=1, checks=(check("rss_bytes", "ok"),))
    assert health_line(fine).plain == "ok"
    some = HealthReport(status="critical", ts_ns=1, checks=(
        check("rss_bytes", "ok"), check("backup_age_seconds", "warn"),
        check("exchange_reachable", "critical"),
    ))
    assert health_line(some).plain == "critical: exchange_reachable, backup_age_seconds"
    long_names = [check(f"unknown_orders_oldest_age_seconds_{i}", "warn") for i in range(5)]
    many = HealthReport(status="critical", ts_ns=1,
                        checks=(*long_names, check("exchange_reachable", "critical")))
    line = health_line(many).plain
    assert line == "critical: exchange_reachable +5 more"  # the next name does not fit
    assert len(line) <= HEALTH_LINE_WIDTH
    console = Console(width=80, record=True)
    console.print(health_line(many))
    assert len(console.export_text().splitlines()) == 1
