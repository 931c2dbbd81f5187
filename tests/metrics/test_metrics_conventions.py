"""Names follow Prometheus conventions; the server binds loopback only unless told;
a failing state provider costs the scrape its state series, not the scrape; lazy imports."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from metricscrape import Scrape, scrape

from tradeguard.domain.events import AlertFailed, AlertSent, OrderAcknowledged, OrderIntended
from tradeguard.errors import ConfigError
from tradeguard.health.checks import Check
from tradeguard.metrics import (
    METRIC_NAMES,
    MetricsServer,
    StateReading,
    TradeguardMetrics,
    from_event,
)

UNITLESS_HISTOGRAMS = {"tradeguard_group_commit_batch_size"}  # a count of records


def _every_series(metrics: TradeguardMetrics) -> None:
    """Give every labelled metric a sample, so each family shows its labels."""
    metrics.observe_journal_append(0.002)
    metrics.observe_events_appended(2)
    metrics.observe_group_commit(3)
    metrics.observe_submit("acked")
    metrics.observe_reconciliation(complete=False, seconds=0.3, found={"order_missing": 2})
    metrics.observe_health([Check(name="disk_free_bytes", status="critical", value=1,
                                  threshold=2, detail="low")])
    metrics.observe_alert(severity="critical", sent=True)
    metrics.observe_alert(severity="warning", sent=False)
    metrics.observe_exchange_request("create_order", 0.01)


def _reading() -> StateReading:
    return StateReading(orders_by_status={"open": 2, "unknown": 1},
                        open_flags_by_severity={"warning": 1, "critical": 0},
                        last_snapshot_ns=1_000_000_000, last_backup_ns=2_000_000_000,
                        lease_held=True, epoch=7)


async def _scrape_of(metrics: TradeguardMetrics) -> Scrape:
    async with MetricsServer(metrics, port=0) as server:
        return await scrape(server.url)


async def test_every_metric_name_follows_prometheus_conventions() -> None:
    metrics = TradeguardMetrics(_reading, clock_ns=lambda: 3_000_000_000)
    _every_series(metrics)
    got = await _scrape_of(metrics)
    ours = {name: f for name, f in got.families.items()
            if name.startswith("tradeguard_") and not name.endswith("_created")}
    # The parser names a counter's family without its _total; its samples carry it.
    exposed = {name + ("_total" if f.type == "counter" else ""): f.type
               for name, f in ours.items()}
    assert exposed == dict(METRIC_NAMES)
    for name, family in ours.items():
        assert re.fullmatch(r"tradeguard_[a-z]+(_[a-z]+)*", name), name
        assert family.samples, f"{name} exposes no sample"
        for sample in family.samples:
            assert not ({"id", "order_id", "client_order_id"} & set(sample.labels)), sample
        if family.type == "counter":
            assert {s.name for s in family.samples} == {name + "_total"}
        else:
            assert not name.endswith("_total"), name
        if family.type == "histogram" and name not in UNITLESS_HISTOGRAMS:
            assert name.endswith("_seconds"), name
        if "timestamp" in name or "age" in name:
            assert name.endswith("_seconds"), name
    assert got.value("tradeguard_last_snapshot_age_seconds") == 2.0
    assert got.value("tradeguard_last_backup_age_seconds") == 1.0
    assert got.value("tradeguard_discrepancies_total", type="order_missing") == 2
    assert got.value("tradeguard_events_appended_total") == 2
    assert got.value("tradeguard_journal_append_seconds_count") == 1
    assert got.value("tradeguard_group_commit_batch_size_sum") == 3
    assert got.value("tradeguard_health_check_status", check="disk_free_bytes") == 2
    assert got.value("tradeguard_alerts_failed_total", severity="warning") == 1
    # The process collector's standard series, on this registry.
    assert got.families["process_cpu_seconds"].type == "counter"
    assert got.value("process_resident_memory_bytes") > 0


async def test_a_failing_state_provider_leaves_only_the_state_series_out() -> None:
    def broken() -> StateReading:
        raise RuntimeError("state not ready")

    metrics = TradeguardMetrics(broken)
    metrics.observe_submit("rejected")
    got = await _scrape_of(metrics)
    assert got.value("tradeguard_submits_total", outcome="rejected") == 1
    assert "tradeguard_orders" not in got.families
    assert metrics.state_collector is not None
    assert metrics.state_collector.failures == 1


def test_two_registries_in_one_process_do_not_collide() -> None:
    first, second = TradeguardMetrics(_reading), TradeguardMetrics(_reading)
    first.observe_submit("acked")
    assert b'tradeguard_submits_total{outcome="acked"} 1.0' in first.exposition()
    assert b'tradeguard_submits_total{outcome="acked"} 0.0' in second.exposition()


def test_an_unknown_submit_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="'maybe'"):
        TradeguardMetrics().observe_submit("maybe")


def test_feed_counts_alerts_and_only_answers_to_fed_intents() -> None:
    from decimal import Decimal

    from tradeguard.domain.enums import MarketKind, OrderType, Side
    from tradeguard.domain.ids import ClientOrderId, ExchangeOrderId, Symbol

    metrics = TradeguardMetrics()
    cid = ClientOrderId("tg-1")
    ack = OrderAcknowledged(ts_ns=2, client_order_id=cid, exchange_order_id=ExchangeOrderId("9"))
    from_event(metrics, ack)  # an answer to no intent fed here (a resolution)
    from_event(metrics, OrderIntended(
        ts_ns=1, client_order_id=cid, symbol=Symbol("BTC/USDT"), kind=MarketKind.SPOT,
        side=Side.BUY, order_type=OrderType.LIMIT, amount=Decimal(1), price=Decimal(1)))
    from_event(metrics, ack)
    from_event(metrics, ack)  # a second answer is no second submit
    for event in (AlertSent(ts_ns=3, key="k", severity="critical", title="t",
                            alert_ts_ns=3, channels=1),
                  AlertFailed(ts_ns=4, key="k", severity="critical", title="t",
                              alert_ts_ns=4, error="smtp down")):
        from_event(metrics, event)
    text = metrics.exposition().decode()
    assert 'tradeguard_submits_total{outcome="acked"} 1.0' in text
    assert "tradeguard_events_appended_total 6.0" in text
    assert 'tradeguard_alerts_sent_total{severity="critical"} 1.0' in text
    assert 'tradeguard_alerts_failed_total{severity="critical"} 1.0' in text
    assert metrics.submits_in_flight == set()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "metrics.example.com"])
def test_a_non_loopback_bind_needs_allow_remote(host: str) -> None:
    with pytest.raises(ConfigError, match=r"\[http\] host .*allow_remote=True"):
        MetricsServer(TradeguardMetrics(), host=host, port=0)
    MetricsServer(TradeguardMetrics(), host=host, port=0, allow_remote=True)  # not started


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_need_no_permission(host: str) -> None:
    assert MetricsServer(TradeguardMetrics(), host=host, port=0).host == host


async def test_a_port_in_use_is_a_config_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MetricsServer(TradeguardMetrics(), port=port)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()


async def test_stop_closes_the_port_and_start_again_works() -> None:
    metrics = TradeguardMetrics()
    server = MetricsServer(metrics, port=0)
    await server.start()
    port = server.port
    await server.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more
    again = MetricsServer(metrics, port=port)  # the same port is free to bind again
    async with again:
        assert (await scrape(again.url)).families


def test_importing_the_metrics_package_imports_no_http_or_prometheus_code() -> None:
    code = (
        "import sys, tradeguard.metrics, tradeguard.cli.main\n"
        "heavy = {'prometheus_client', 'starlette', 'uvicorn'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_scrape_connections_have_nagle_off() -> None:
    # Headers and body go out as two writes: with Nagle on, every keep-alive scrape after
    # the first waits for the client's delayed ACK (~40 ms). asyncio turns it off only on
    # sockets made with proto IPPROTO_TCP.
    import aiohttp

    server = MetricsServer(TradeguardMetrics(), port=0)
    async with server, aiohttp.ClientSession() as client:
        for _ in range(2):
            async with client.get(server.url) as response:
                assert response.status == 200
        connections = list(server._server.server_state.connections)
        assert connections
        for connection in connections:
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
