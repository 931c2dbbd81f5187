"""Session facts in a health round, from a real session on the simulator: an UNKNOWN
order (ambiguous submit) that ages, a critical flag, an incomplete reconciliation;
each turns its check warn or critical and back to ok once settled."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from healthfixtures import cli, healthy_store

from tradeguard.app.service import LocalService
from tradeguard.config import Config, StorageSettings
from tradeguard.domain.enums import FlagSeverity, OrderStatus
from tradeguard.domain.events import FlagRaised, FlagResolved
from tradeguard.domain.ids import FlagId
from tradeguard.exchange.ccxt_gateway import CcxtGateway
from tradeguard.health.checks import HealthConfig
from tradeguard.health.monitor import HealthReport, store_round
from tradeguard.session import Session, SessionSettings
from tradeguard.sim import SimulatorThread
from tradeguard.storage import open_store


def _fault(url: str, body: dict[str, Any] | None) -> None:
    request = urllib.request.Request(
        f"{url}/_sim/faults", method="POST" if body else "DELETE",
        data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _by_name(report: HealthReport) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


def test_an_unknown_order_ages_into_critical_then_ok_once_resolved(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path / 'data'}"))
    cfg = HealthConfig(unknown_age_warn_seconds=60, unknown_age_critical_seconds=300)

    async def round_at(offset_s: float) -> HealthReport:
        with open_store(tmp_path / "data", readonly=True) as store:  # beside the live writer
            return await store_round(
                store, data_dir=tmp_path / "data", backup_dir=None, thresholds=cfg,
                clock_ns=lambda: time.time_ns() + int(offset_s * 1e9),
            )

    async def main() -> None:
        gateway = CcxtGateway("binance", api_key="demo", secret="demo",
                              url_override=sim.url, markets=("spot",))
        async with gateway:
            session = await Session.open(
                config, gateway=gateway, background=False,
                settings=SessionSettings(symbols=("BTC/USDT",), unknown_grace_seconds=0),
            )
            try:
                _fault(sim.url, {"path": "/api/v3/order", "method": "POST",
                                 "action": "process_then_fail"})
                order = await session.submit_order(
                    "BTC/USDT", "sell", "limit", Decimal("0.002"), Decimal(70000)
                )
                assert order.status is OrderStatus.UNKNOWN
                young = _by_name(await round_at(0))
                assert young["unknown_orders_oldest_age_seconds"].status == "ok"
                # The session runs in this process: its vitals are part of the round.
                assert isinstance(young["rss_bytes"].value, int)
                assert young["open_fds_ratio"].status in ("ok", "warn")
                later = _by_name(await round_at(120))["unknown_orders_oldest_age_seconds"]
                assert later.status == "warn", later
                assert later.detail.startswith("1 UNKNOWN")
                stuck = _by_name(await round_at(400))["unknown_orders_oldest_age_seconds"]
                assert stuck.status == "critical", stuck
                await session.resolve_unknown_orders(force=True)
                settled = _by_name(await round_at(400))["unknown_orders_oldest_age_seconds"]
                assert settled.status == "ok", settled
                assert settled.value == 0
            finally:
                await session.close()

    asyncio.run(main())


def test_a_critical_flag_is_critical_until_resolved(tmp_path: Path, sim: SimulatorThread) -> None:
    healthy_store(tmp_path, sim.url)
    config = Config(storage=StorageSettings(url=f"sqlite:///{tmp_path}"))

    async def append(event: Any) -> None:
        service = await LocalService.start(config, config.storage.url)
        try:
            await service.append([event])
        finally:
            await service.close()

    asyncio.run(append(FlagRaised(
        ts_ns=time.time_ns(), flag_id=FlagId("f-gone"), severity=FlagSeverity.CRITICAL,
        kind="vanished_order", message="order gone", actions=("acknowledge",),
    )))
    code, out = cli("health", "--data-dir", str(tmp_path), "--json")
    assert code == 1, out
    flags = next(c for c in out["checks"] if c["name"] == "open_flags")
    assert (flags["status"], flags["value"]) == ("critical", 1)
    asyncio.run(append(FlagResolved(ts_ns=time.time_ns(), flag_id=FlagId("f-gone"),
                                    action="acknowledge")))
    code, out = cli("health", "--data-dir", str(tmp_path), "--json")
    flags = next(c for c in out["checks"] if c["name"] == "open_flags")
    assert flags["status"] == "ok", flags


def test_an_incomplete_reconciliation_warns_until_a_complete_one(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    healthy_store(tmp_path, sim.url)
    _fault(sim.url, {"path": "/api/v3/openOrders", "action": "status", "status": 503,
                     "count": 1000})
    code, _ = cli("reconcile", "--data-dir", str(tmp_path), "--exchange-url", sim.url, "--json")
    assert code == 1  # incomplete
    code, out = cli("health", "--data-dir", str(tmp_path), "--json")
    assert code == 1, out
    check = next(c for c in out["checks"] if c["name"] == "reconciliation_age_seconds")
    assert check["status"] == "warn"
    assert "incomplete" in check["detail"]
    _fault(sim.url, None)
    assert cli("reconcile", "--data-dir", str(tmp_path), "--exchange-url", sim.url,
               "--json")[0] == 0
    code, out = cli("health", "--data-dir", str(tmp_path), "--json")
    assert code == 0, out
