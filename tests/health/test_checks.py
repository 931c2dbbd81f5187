"""The pure checks: every verdict, fail-closed on missing readings, and properties
(worst is the max, None never yields ok, a worse value never gives a better status)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeguard.health.checks import (
    CHECK_NAMES,
    STATUS_ORDER,
    Check,
    HealthConfig,
    Readings,
    run_checks,
    worst,
)

NOW = 1_800_000_000 * 10**9
S = 10**9
CFG = HealthConfig()

HEALTHY = Readings(
    rss_bytes=100_000_000, cpu_percent=5.0, disk_free_bytes=50 * 10**9,
    disk_total_bytes=100 * 10**9, open_fds=20, fd_soft_limit=1024, threads=8,
    journal_append_p99_seconds=0.002, last_snapshot_ns=NOW - 10 * S,
    last_backup_ns=NOW - 60 * S, last_backup_verified=True, exchange_reachable=True,
    exchange_rtt_seconds=0.05, exchange_clock_skew_ms=-12.0, last_reconcile_ns=NOW - 5 * S,
    last_reconcile_complete=True, last_reconcile_discrepancies=0, event_loop_lag_seconds=0.001,
    unknown_orders=0, open_flags=0, critical_flags=0, store_poisoned=False, store_fenced=False,
)


def by_name(readings: Readings, now: int = NOW, cfg: HealthConfig = CFG) -> dict[str, Check]:
    return {c.name: c for c in run_checks(readings, cfg, now)}


def test_a_healthy_round_is_all_ok_and_covers_every_check() -> None:
    checks = run_checks(HEALTHY, CFG, NOW)
    assert [c.name for c in checks] == list(CHECK_NAMES)
    assert {c.status for c in checks} == {"ok"}, [c for c in checks if c.status != "ok"]
    assert worst(checks) == "ok"


def test_empty_readings_are_never_ok() -> None:
    checks = run_checks(Readings(), CFG, NOW)
    assert len(checks) == len(CHECK_NAMES)
    for check in checks:
        assert check.status != "ok", check
        assert check.detail.startswith("not checked"), check
    # Being blind to the disk or the exchange is critical, not a mere warning.
    got = {c.name: c.status for c in checks}
    assert got["disk_free_bytes"] == got["exchange_reachable"] == "critical"


def test_unread_reason_is_named_in_the_detail() -> None:
    readings = msgspec.structs.replace(
        HEALTHY, rss_bytes=None, unread={"rss_bytes": "rss_bytes of pid 7: AccessDenied"}
    )
    assert by_name(readings)["rss_bytes"].detail == "not checked: rss_bytes of pid 7: AccessDenied"


def test_not_applicable_checks_are_left_out() -> None:
    readings = msgspec.structs.replace(
        Readings(), not_applicable=frozenset(CHECK_NAMES) - {"open_flags"}
    )
    assert [c.name for c in run_checks(readings, CFG, NOW)] == ["open_flags"]


@pytest.mark.parametrize(
    ("change", "name", "status"),
    [
        ({"rss_bytes": 1_500_000_000}, "rss_bytes", "warn"),
        ({"rss_bytes": 2_000_000_000}, "rss_bytes", "critical"),
        ({"cpu_percent": 99.0}, "cpu_percent", "critical"),
        ({"disk_free_bytes": 500_000_000}, "disk_free_bytes", "warn"),
        ({"disk_free_bytes": 1_000}, "disk_free_bytes", "critical"),
        ({"disk_free_bytes": 5 * 10**9}, "disk_free_percent", "warn"),
        ({"open_fds": 900}, "open_fds_ratio", "warn"),
        ({"open_fds": 1000}, "open_fds_ratio", "critical"),
        ({"threads": 250}, "threads", "warn"),
        ({"journal_append_p99_seconds": 0.6}, "journal_append_p99_seconds", "critical"),
        ({"last_snapshot_ns": NOW - 1000 * S}, "snapshot_age_seconds", "warn"),
        ({"last_backup_ns": NOW - 90_000 * S}, "backup_age_seconds", "critical"),
        ({"last_backup_verified": False}, "backup_age_seconds", "critical"),
        ({"last_backup_verified": None}, "backup_age_seconds", "warn"),
        ({"exchange_reachable": False, "exchange_error": "refused"}, "exchange_reachable",
         "critical"),
        ({"exchange_rtt_seconds": 2.0}, "exchange_rtt_seconds", "warn"),
        ({"exchange_clock_skew_ms": -6000.0}, "exchange_clock_skew_ms", "critical"),
        ({"last_reconcile_complete": False}, "reconciliation_age_seconds", "warn"),
        ({"last_reconcile_discrepancies": 2}, "reconciliation_age_seconds", "warn"),
        ({"last_reconcile_ns": NOW - 1000 * S}, "reconciliation_age_seconds", "critical"),
        ({"event_loop_lag_seconds": 0.2}, "event_loop_lag_seconds", "warn"),
        ({"unknown_orders": 2, "oldest_unknown_ns": NOW - 10 * S},
         "unknown_orders_oldest_age_seconds", "ok"),
        ({"unknown_orders": 2, "oldest_unknown_ns": NOW - 400 * S},
         "unknown_orders_oldest_age_seconds", "critical"),
        ({"unknown_orders": 2}, "unknown_orders_oldest_age_seconds", "warn"),
        ({"open_flags": 1}, "open_flags", "warn"),
        ({"open_flags": 1, "critical_flags": 1}, "open_flags", "critical"),
        ({"store_poisoned": True}, "store_writable", "critical"),
        ({"store_fenced": True}, "store_writable", "critical"),
    ],
)
def test_each_check_turns(change: dict[str, Any], name: str, status: str) -> None:
    check = by_name(msgspec.structs.replace(HEALTHY, **change))[name]
    assert check.status == status, check


def test_skew_keeps_its_sign_and_a_future_timestamp_is_age_zero() -> None:
    got = by_name(msgspec.structs.replace(
        HEALTHY, exchange_clock_skew_ms=-700.0, last_snapshot_ns=NOW + 5 * S
    ))
    assert (got["exchange_clock_skew_ms"].value, got["exchange_clock_skew_ms"].status) == (
        -700.0, "warn")
    assert got["snapshot_age_seconds"].value == 0


# --- properties ----------------------------------------------------------------------

statuses = st.sampled_from(["ok", "warn", "critical"])


@given(st.lists(statuses, max_size=20))
def test_worst_is_the_max(found: list[Any]) -> None:
    checks = [Check(name="x", status=s, value=None, threshold=None, detail="") for s in found]
    expected = max(found, key=STATUS_ORDER.__getitem__) if found else "ok"
    assert worst(checks) == expected


FIELDS = [f.name for f in msgspec.structs.fields(Readings) if f.name not in (
    "unread", "not_applicable", "exchange_error")]


@st.composite
def readings(draw: st.DrawFn) -> Readings:
    """HEALTHY with some readings randomly blanked or pushed around."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        base = getattr(HEALTHY, name)
        if draw(st.booleans()):
            continue
        if draw(st.integers(0, 3)) == 0:
            values[name] = None
        elif isinstance(base, bool):
            values[name] = draw(st.booleans())
        elif isinstance(base, int):
            values[name] = draw(st.integers(0, 2 * max(base, 10**3)))
        elif isinstance(base, float):
            values[name] = draw(st.floats(-10_000, 10_000, allow_nan=False))
    return msgspec.structs.replace(HEALTHY, **values)


# Which readings each check depends on (a None in any of them: the check is not ok).
DEPENDS = {
    "rss_bytes": ["rss_bytes"], "cpu_percent": ["cpu_percent"],
    "disk_free_bytes": ["disk_free_bytes"],
    "disk_free_percent": ["disk_free_bytes", "disk_total_bytes"],
    "open_fds_ratio": ["open_fds", "fd_soft_limit"], "threads": ["threads"],
    "journal_append_p99_seconds": ["journal_append_p99_seconds"],
    "snapshot_age_seconds": ["last_snapshot_ns"],
    "backup_age_seconds": ["last_backup_ns", "last_backup_verified"],
    "exchange_reachable": ["exchange_reachable"],
    "exchange_rtt_seconds": ["exchange_rtt_seconds"],
    "exchange_clock_skew_ms": ["exchange_clock_skew_ms"],
    "reconciliation_age_seconds": ["last_reconcile_ns", "last_reconcile_complete",
                                   "last_reconcile_discrepancies"],
    "event_loop_lag_seconds": ["event_loop_lag_seconds"],
    "unknown_orders_oldest_age_seconds": ["unknown_orders"],
    "open_flags": ["open_flags", "critical_flags"],
    "store_writable": ["store_poisoned", "store_fenced"],
}


def test_depends_names_every_check() -> None:
    assert set(DEPENDS) == set(CHECK_NAMES)


@given(readings())
def test_a_none_reading_never_yields_ok(sample: Readings) -> None:
    for check in run_checks(sample, CFG, NOW):
        if any(getattr(sample, field) is None for field in DEPENDS[check.name]):
            assert check.status != "ok", (check, sample)


# (field, +1: a larger value is worse / -1: a smaller one is worse, check)
MONOTONE = [
    ("rss_bytes", 1, "rss_bytes"), ("cpu_percent", 1, "cpu_percent"),
    ("disk_free_bytes", -1, "disk_free_bytes"), ("disk_free_bytes", -1, "disk_free_percent"),
    ("open_fds", 1, "open_fds_ratio"), ("threads", 1, "threads"),
    ("journal_append_p99_seconds", 1, "journal_append_p99_seconds"),
    ("last_snapshot_ns", -1, "snapshot_age_seconds"),
    ("last_backup_ns", -1, "backup_age_seconds"),
    ("exchange_rtt_seconds", 1, "exchange_rtt_seconds"),
    ("last_reconcile_ns", -1, "reconciliation_age_seconds"),
    ("last_reconcile_discrepancies", 1, "reconciliation_age_seconds"),
    ("event_loop_lag_seconds", 1, "event_loop_lag_seconds"),
    ("oldest_unknown_ns", -1, "unknown_orders_oldest_age_seconds"),
    ("open_flags", 1, "open_flags"), ("critical_flags", 1, "open_flags"),
]


@given(
    readings(),
    st.sampled_from(MONOTONE),
    st.integers(0, 10**11),
    st.integers(0, 10**11),
)
def test_a_worse_value_never_gives_a_better_status(
    sample: Readings, case: tuple[str, int, str], a: int, b: int
) -> None:
    field, direction, name = case
    base = getattr(HEALTHY, field)
    if isinstance(base, float):
        good, bad = sorted((a / 1e6, b / 1e6))
    elif field.endswith("_ns"):
        good, bad = sorted((NOW - b // 10, NOW - a // 10), reverse=True)  # later is better
        good, bad = (good, bad) if direction < 0 else (bad, good)
    else:
        good, bad = sorted((a // 10**5, b // 10**5))
    if direction < 0 and not field.endswith("_ns"):
        good, bad = bad, good
    if field == "critical_flags":  # critical flags are a subset of the open ones
        sample = msgspec.structs.replace(sample, open_flags=max(good, bad))
    if field == "oldest_unknown_ns":
        sample = msgspec.structs.replace(sample, unknown_orders=1)
    better = by_name(msgspec.structs.replace(sample, **{field: good}))[name]
    worse = by_name(msgspec.structs.replace(sample, **{field: bad}))[name]
    assert STATUS_ORDER[worse.status] >= STATUS_ORDER[better.status], (field, better, worse)


@given(st.floats(0.01, 1), st.floats(0.01, 1), st.integers(1, 10**6))
def test_fd_ratio_is_monotone_in_the_limit_too(w: float, c: float, limit: int) -> None:
    cfg = HealthConfig(fd_warn_ratio=min(w, c), fd_critical_ratio=max(w, c))
    low = by_name(msgspec.structs.replace(HEALTHY, fd_soft_limit=limit * 2), cfg=cfg)
    high = by_name(msgspec.structs.replace(HEALTHY, fd_soft_limit=limit), cfg=cfg)
    assert STATUS_ORDER[high["open_fds_ratio"].status] >= STATUS_ORDER[
        low["open_fds_ratio"].status]


def test_a_young_store_is_not_late_with_its_first_snapshot_or_backup() -> None:
    young = msgspec.structs.replace(
        HEALTHY, last_snapshot_ns=None, last_backup_ns=None, last_backup_verified=None,
        store_created_ns=NOW - 60 * 1_000_000_000,
    )
    checks = {c.name: c for c in run_checks(young, CFG, NOW)}
    for name in ("snapshot_age_seconds", "backup_age_seconds"):
        assert checks[name].status == "ok", checks[name]
        assert "yet" in checks[name].detail
    # The same store, older than the thresholds and still without them: late.
    old = msgspec.structs.replace(young, store_created_ns=NOW - 10 * 86_400 * 1_000_000_000)
    checks = {c.name: c for c in run_checks(old, CFG, NOW)}
    assert checks["snapshot_age_seconds"].status == "critical"
    assert checks["backup_age_seconds"].status == "critical"
