"""The alert builders: keys, severities and wording from plain values and domain events."""

from __future__ import annotations

from dataclasses import dataclass

from tradeguard.alerts import catalog
from tradeguard.domain.enums import FlagSeverity
from tradeguard.domain.events import FlagRaised, ReconciliationReported
from tradeguard.domain.ids import FlagId, Symbol


@dataclass(frozen=True)
class _Figures:
    replayed_events: int = 1200
    last_seq: int = 5400
    snapshot_seq: int | None = 4200
    quarantined_records: int = 0
    accepted_loss: bool = False
    duration_ms: float = 812.4


def test_check_alerts_critical_and_recovered_use_separate_keys() -> None:
    down = catalog.check_critical("s1", "exchange", "critical", "no answer", 1)
    up = catalog.check_recovered("s1", "exchange", "ok", "rtt 40 ms", 2)
    assert (down.severity, up.severity) == ("critical", "warning")
    assert down.key != up.key
    assert down.title == "tradeguard s1: check exchange is critical"


def test_a_warning_flag_blocks_its_symbol_and_a_critical_one_the_session() -> None:
    base = {
        "ts_ns": 3,
        "flag_id": FlagId("f1"),
        "kind": "external_order",
        "symbol": Symbol("BTC/USDT"),
        "message": "order 77 is not ours",
        "actions": ("adopt", "cancel"),
    }
    warning = catalog.flag_raised("s1", FlagRaised(severity=FlagSeverity.WARNING, **base))  # type: ignore[arg-type]
    critical = catalog.flag_raised("s1", FlagRaised(severity=FlagSeverity.CRITICAL, **base))  # type: ignore[arg-type]
    assert warning.severity == "warning"
    assert "blocked on BTC/USDT" in warning.body
    assert critical.severity == "critical"
    assert "blocked on the whole session" in critical.body
    assert warning.key == critical.key == "s1:flag:f1"
    assert warning.ts_ns == 3


def test_recovery_figures_are_in_the_body_and_a_loss_raises_the_severity() -> None:
    clean = catalog.recovery_finished("s1", _Figures(), 9)
    assert clean.severity == "info"
    assert clean.body == (
        "Snapshot: seq 4200; replayed 1200 events up to seq 5400; quarantined records: 0; "
        "accepted loss: no; took 812 ms."
    )
    lossy = catalog.recovery_finished("s1", _Figures(quarantined_records=3, snapshot_seq=None), 9)
    assert lossy.severity == "warning"
    assert "Snapshot: none" in lossy.body


def test_incomplete_reconciliation_names_what_was_not_checked() -> None:
    report = ReconciliationReported(
        ts_ns=4,
        complete=False,
        duration_us=10,
        symbols=("BTC/USDT",),
        checked=("orders",),
        unchecked=("balances",),
        failures=("fetch_balance: timeout",),
        found=(),
        events_journaled=0,
        flags_raised=(),
    )
    alert = catalog.reconciliation_incomplete("s1", report)
    assert alert.body == "Not checked: balances. Failures: fetch_balance: timeout."
    assert alert.ts_ns == 4


def test_store_and_start_alerts() -> None:
    assert catalog.store_poisoned("s1", "disk full", 1).severity == "critical"
    assert catalog.store_fenced("s1", "epoch 3", 1).severity == "critical"
    assert "run-9" in catalog.unclean_shutdown("s1", "run-9", 1).body
    test = catalog.alert_test_message(5, "host-a")
    assert (test.title, test.severity) == ("tradeguard test alert", "info")
    assert "from host-a" in test.body
