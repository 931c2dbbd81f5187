"""Health checks: pure functions from readings and thresholds to ``Check`` results.

No I/O here: ``readings.py`` gathers the facts, this module judges them. Every reading
is optional and ``None`` means "could not read": such a check is reported as warn (or
critical where being blind is itself dangerous, e.g. the exchange) with "not checked"
in its detail, never as ok (fail closed). A check that does not belong to a round (no
exchange given, no event loop in a one-off CLI round) is listed in
``Readings.not_applicable`` and left out of the result instead.

Check names carry their unit (``disk_free_bytes``, ``exchange_clock_skew_ms``); values
and thresholds are plain numbers (or a bool for yes/no facts), so JSON stays numeric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Final, Literal

import msgspec

__all__ = [
    "CHECK_NAMES",
    "STATUS_ORDER",
    "Check",
    "HealthConfig",
    "Readings",
    "Status",
    "run_checks",
    "worst",
]

Status = Literal["ok", "warn", "critical"]
STATUS_ORDER: Final[dict[Status, int]] = {"ok": 0, "warn": 1, "critical": 2}

Number = int | float


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One check's verdict: ``value`` read, the ``threshold`` it was held against
    (the one crossed, else the warn level), and a one-line ``detail``."""

    name: str
    status: Status
    value: int | float | bool | None
    threshold: int | float | None
    detail: str


class HealthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Thresholds of the health checks (the ``[health]`` table); units in the names.

    ``*_warn_*`` must not be worse than the matching ``*_critical_*``. Ratios are
    fractions (0.8 = 80 %), percentages are 0-100. ``journal_append_latency_*`` is held
    against the p99 of the appends in the service's window.
    """

    interval_seconds: float = 30.0
    rss_warn_bytes: int = 1_000_000_000
    rss_critical_bytes: int = 2_000_000_000
    cpu_warn_percent: float = 80.0
    cpu_critical_percent: float = 95.0
    disk_free_warn_bytes: int = 1_000_000_000
    disk_free_critical_bytes: int = 100_000_000
    disk_free_warn_percent: float = 10.0
    disk_free_critical_percent: float = 2.0
    fd_warn_ratio: float = 0.8
    fd_critical_ratio: float = 0.95
    threads_warn_count: int = 200
    threads_critical_count: int = 1000
    journal_append_latency_warn_seconds: float = 0.05
    journal_append_latency_critical_seconds: float = 0.5
    snapshot_age_warn_seconds: float = 900.0
    snapshot_age_critical_seconds: float = 3600.0
    backup_age_warn_seconds: float = 7200.0
    backup_age_critical_seconds: float = 86400.0
    exchange_rtt_warn_seconds: float = 1.0
    exchange_rtt_critical_seconds: float = 5.0
    clock_skew_warn_ms: float = 500.0
    clock_skew_critical_ms: float = 5000.0
    reconcile_age_warn_seconds: float = 120.0
    reconcile_age_critical_seconds: float = 900.0
    event_loop_lag_warn_seconds: float = 0.1
    event_loop_lag_critical_seconds: float = 1.0
    unknown_age_warn_seconds: float = 60.0
    unknown_age_critical_seconds: float = 300.0

    def __post_init__(self) -> None:
        for field in msgspec.structs.fields(self):  # NaN/inf first: no order holds for them
            value = getattr(self, field.name)
            if not math.isfinite(value):
                raise ValueError(f"health.{field.name} must be a finite number, got {value}")
        # "high is bad" pairs: warn <= critical; "low is bad" (disk free): warn >= critical.
        for stem, unit in _HIGH_IS_BAD:
            warn, critical = getattr(self, f"{stem}_warn_{unit}"), getattr(
                self, f"{stem}_critical_{unit}"
            )
            if warn > critical:
                raise ValueError(
                    f"health.{stem}_warn_{unit} must be <= health.{stem}_critical_{unit}, "
                    f"got {warn} > {critical}"
                )
        for unit in ("bytes", "percent"):
            warn, critical = getattr(self, f"disk_free_warn_{unit}"), getattr(
                self, f"disk_free_critical_{unit}"
            )
            if warn < critical:
                raise ValueError(
                    f"health.disk_free_warn_{unit} must be >= health.disk_free_critical_{unit}"
                    f", got {warn} < {critical}"
                )


_HIGH_IS_BAD: Final = (
    ("rss", "bytes"),
    ("cpu", "percent"),
    ("fd", "ratio"),
    ("threads", "count"),
    ("journal_append_latency", "seconds"),
    ("snapshot_age", "seconds"),
    ("backup_age", "seconds"),
    ("exchange_rtt", "seconds"),
    ("clock_skew", "ms"),
    ("reconcile_age", "seconds"),
    ("event_loop_lag", "seconds"),
    ("unknown_age", "seconds"),
)


class Readings(msgspec.Struct, frozen=True, kw_only=True):
    """The facts of one round. ``None`` anywhere: could not be read (fail closed).

    Times are integer ns since the epoch; ``unread`` maps a reading's name to why it
    could not be read (shown in the check's detail). ``not_applicable`` names checks
    this round does not cover (they are left out, not reported as ok).
    """

    rss_bytes: int | None = None
    cpu_percent: float | None = None
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    open_fds: int | None = None
    fd_soft_limit: int | None = None
    threads: int | None = None
    journal_append_p99_seconds: float | None = None
    last_snapshot_ns: int | None = None
    # When the store's first record was written: a store younger than a threshold that
    # has no snapshot or backup yet is not late with one.
    store_created_ns: int | None = None
    last_backup_ns: int | None = None
    last_backup_verified: bool | None = None
    exchange_reachable: bool | None = None
    exchange_error: str | None = None
    exchange_rtt_seconds: float | None = None
    exchange_clock_skew_ms: float | None = None
    last_reconcile_ns: int | None = None
    last_reconcile_complete: bool | None = None
    last_reconcile_discrepancies: int | None = None
    event_loop_lag_seconds: float | None = None
    unknown_orders: int | None = None
    oldest_unknown_ns: int | None = None
    open_flags: int | None = None
    critical_flags: int | None = None
    store_poisoned: bool | None = None
    store_fenced: bool | None = None
    unread: dict[str, str] = msgspec.field(default_factory=dict)
    not_applicable: frozenset[str] = frozenset()


def worst(checks: Iterable[Check]) -> Status:
    """The worst status among ``checks`` (``ok`` for none)."""
    result: Status = "ok"
    for check in checks:
        if STATUS_ORDER[check.status] > STATUS_ORDER[result]:
            result = check.status
    return result


def _not_checked(name: str, status: Status, readings: Readings, *keys: str) -> Check:
    reasons = [readings.unread[k] for k in keys if k in readings.unread]
    why = "; ".join(reasons) if reasons else f"{', '.join(keys)} could not be read"
    return Check(name=name, status=status, value=None, threshold=None, detail=f"not checked: {why}")


def _num(value: Number) -> str:
    """A number for a detail line: integers in full, others to 6 significant digits."""
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _high_is_bad(name: str, value: Number, warn: Number, critical: Number, what: str) -> Check:
    if value >= critical:
        return Check(name=name, status="critical", value=value, threshold=critical,
                     detail=f"{what} {_num(value)} >= critical {_num(critical)}")
    if value >= warn:
        return Check(name=name, status="warn", value=value, threshold=warn,
                     detail=f"{what} {_num(value)} >= warn {_num(warn)}")
    return Check(name=name, status="ok", value=value, threshold=warn,
                 detail=f"{what} {_num(value)} < warn {_num(warn)}")


def _low_is_bad(name: str, value: Number, warn: Number, critical: Number, what: str) -> Check:
    if value <= critical:
        return Check(name=name, status="critical", value=value, threshold=critical,
                     detail=f"{what} {_num(value)} <= critical {_num(critical)}")
    if value <= warn:
        return Check(name=name, status="warn", value=value, threshold=warn,
                     detail=f"{what} {_num(value)} <= warn {_num(warn)}")
    return Check(name=name, status="ok", value=value, threshold=warn,
                 detail=f"{what} {_num(value)} > warn {_num(warn)}")


def _age_seconds(ts_now_ns: int, then_ns: int) -> float:
    # A timestamp from the future (clock stepped back) counts as age 0, not negative.
    return max(0, ts_now_ns - then_ns) / 1e9


def _escalate(check: Check, status: Status, reason: str) -> Check:
    """``check`` made at least ``status``, with ``reason`` added to its detail."""
    if STATUS_ORDER[status] <= STATUS_ORDER[check.status]:
        return msgspec.structs.replace(check, detail=f"{check.detail}; {reason}")
    return msgspec.structs.replace(check, status=status, detail=f"{check.detail}; {reason}")


_Rule = Callable[[Readings, HealthConfig, int], Check]


def _rss(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.rss_bytes is None:
        return _not_checked("rss_bytes", "warn", r, "rss_bytes")
    return _high_is_bad("rss_bytes", r.rss_bytes, c.rss_warn_bytes, c.rss_critical_bytes, "RSS")


def _cpu(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.cpu_percent is None:
        return _not_checked("cpu_percent", "warn", r, "cpu_percent")
    return _high_is_bad(
        "cpu_percent", r.cpu_percent, c.cpu_warn_percent, c.cpu_critical_percent, "CPU %"
    )


def _disk_bytes(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.disk_free_bytes is None:
        return _not_checked("disk_free_bytes", "critical", r, "disk_free_bytes")
    return _low_is_bad("disk_free_bytes", r.disk_free_bytes, c.disk_free_warn_bytes,
                       c.disk_free_critical_bytes, "free bytes")


def _disk_percent(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.disk_free_bytes is None or not r.disk_total_bytes:
        return _not_checked("disk_free_percent", "critical", r,
                            "disk_free_bytes", "disk_total_bytes")
    percent = round(100.0 * r.disk_free_bytes / r.disk_total_bytes, 3)
    return _low_is_bad("disk_free_percent", percent, c.disk_free_warn_percent,
                       c.disk_free_critical_percent, "free %")


def _fds(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.open_fds is None or not r.fd_soft_limit or r.fd_soft_limit < 0:
        return _not_checked("open_fds_ratio", "warn", r, "open_fds", "fd_soft_limit")
    ratio = round(r.open_fds / r.fd_soft_limit, 6)
    check = _high_is_bad("open_fds_ratio", ratio, c.fd_warn_ratio, c.fd_critical_ratio,
                         "open fds / soft limit")
    return msgspec.structs.replace(
        check, detail=f"{check.detail} ({r.open_fds} of {r.fd_soft_limit})"
    )


def _threads(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.threads is None:
        return _not_checked("threads", "warn", r, "threads")
    return _high_is_bad("threads", r.threads, c.threads_warn_count, c.threads_critical_count,
                        "threads")


def _journal_latency(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "journal_append_p99_seconds"
    if r.journal_append_p99_seconds is None:
        return _not_checked(name, "warn", r, name)
    return _high_is_bad(name, r.journal_append_p99_seconds, c.journal_append_latency_warn_seconds,
                        c.journal_append_latency_critical_seconds, "append p99 s")


def _snapshot_age(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.last_snapshot_ns is None and r.store_created_ns is not None:
        return _high_is_bad("snapshot_age_seconds", _age_seconds(now, r.store_created_ns),
                            c.snapshot_age_warn_seconds, c.snapshot_age_critical_seconds,
                            "no snapshot yet; store age s")
    if r.last_snapshot_ns is None:
        return _not_checked("snapshot_age_seconds", "warn", r, "last_snapshot_ns")
    return _high_is_bad("snapshot_age_seconds", _age_seconds(now, r.last_snapshot_ns),
                        c.snapshot_age_warn_seconds, c.snapshot_age_critical_seconds,
                        "last snapshot age s")


def _backup_age(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.last_backup_ns is None and r.store_created_ns is not None:
        return _high_is_bad("backup_age_seconds", _age_seconds(now, r.store_created_ns),
                            c.backup_age_warn_seconds, c.backup_age_critical_seconds,
                            "no backup yet; store age s")
    if r.last_backup_ns is None:
        return _not_checked("backup_age_seconds", "warn", r, "last_backup_ns")
    check = _high_is_bad("backup_age_seconds", _age_seconds(now, r.last_backup_ns),
                         c.backup_age_warn_seconds, c.backup_age_critical_seconds,
                         "last backup age s")
    if r.last_backup_verified is None:
        why = r.unread.get("last_backup_verified", "verification not run")
        return _escalate(check, "warn", f"backup not verified: {why}")
    if not r.last_backup_verified:
        why = r.unread.get("last_backup_verified", "no reason given")
        return _escalate(check, "critical", f"backup failed verification: {why}")
    return msgspec.structs.replace(check, detail=f"{check.detail}; verified")


def _exchange_reachable(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "exchange_reachable"
    if r.exchange_reachable is None:
        return _not_checked(name, "critical", r, name)
    if not r.exchange_reachable:
        return Check(name=name, status="critical", value=False, threshold=None,
                     detail=f"exchange unreachable: {r.exchange_error or 'no answer'}")
    return Check(name=name, status="ok", value=True, threshold=None, detail="exchange answers")


def _exchange_rtt(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "exchange_rtt_seconds"
    if r.exchange_rtt_seconds is None:
        return _not_checked(name, "critical", r, name, "exchange_reachable")
    return _high_is_bad(name, r.exchange_rtt_seconds, c.exchange_rtt_warn_seconds,
                        c.exchange_rtt_critical_seconds, "round trip s")


def _clock_skew(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "exchange_clock_skew_ms"
    if r.exchange_clock_skew_ms is None:
        return _not_checked(name, "warn", r, name, "exchange_reachable")
    # Judged by magnitude; the value keeps its sign (positive: the exchange is ahead).
    check = _high_is_bad(name, abs(r.exchange_clock_skew_ms), c.clock_skew_warn_ms,
                         c.clock_skew_critical_ms, "|clock skew| ms")
    return msgspec.structs.replace(check, value=r.exchange_clock_skew_ms)


def _reconciliation(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "reconciliation_age_seconds"
    if r.last_reconcile_ns is None:
        return _not_checked(name, "warn", r, "last_reconcile_ns")
    check = _high_is_bad(name, _age_seconds(now, r.last_reconcile_ns),
                         c.reconcile_age_warn_seconds, c.reconcile_age_critical_seconds,
                         "last reconciliation age s")
    if r.last_reconcile_complete is None:
        check = _escalate(check, "warn", "completeness not known")
    elif not r.last_reconcile_complete:
        check = _escalate(check, "warn", "incomplete: something could not be checked")
    if r.last_reconcile_discrepancies is None:
        return _escalate(check, "warn", "discrepancies not known")
    if r.last_reconcile_discrepancies > 0:
        return _escalate(
            check, "warn", f"{r.last_reconcile_discrepancies} discrepancies flagged for a person"
        )
    return check


def _event_loop_lag(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "event_loop_lag_seconds"
    if r.event_loop_lag_seconds is None:
        return _not_checked(name, "warn", r, name)
    return _high_is_bad(name, r.event_loop_lag_seconds, c.event_loop_lag_warn_seconds,
                        c.event_loop_lag_critical_seconds, "event loop lag s")


def _unknown_orders(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "unknown_orders_oldest_age_seconds"
    if r.unknown_orders is None:
        return _not_checked(name, "warn", r, "unknown_orders")
    if r.unknown_orders == 0:
        return Check(name=name, status="ok", value=0, threshold=c.unknown_age_warn_seconds,
                     detail="no UNKNOWN orders")
    if r.oldest_unknown_ns is None:
        return _not_checked(name, "warn", r, "oldest_unknown_ns")
    check = _high_is_bad(name, _age_seconds(now, r.oldest_unknown_ns),
                         c.unknown_age_warn_seconds, c.unknown_age_critical_seconds,
                         "oldest UNKNOWN order age s")
    return msgspec.structs.replace(check, detail=f"{r.unknown_orders} UNKNOWN; {check.detail}")


def _flags(r: Readings, c: HealthConfig, now: int) -> Check:
    if r.open_flags is None or r.critical_flags is None:
        return _not_checked("open_flags", "warn", r, "open_flags", "critical_flags")
    if r.critical_flags > 0:
        return Check(name="open_flags", status="critical", value=r.open_flags, threshold=0,
                     detail=f"{r.open_flags} open flags, {r.critical_flags} critical")
    if r.open_flags > 0:
        return Check(name="open_flags", status="warn", value=r.open_flags, threshold=0,
                     detail=f"{r.open_flags} open flags need a person")
    return Check(name="open_flags", status="ok", value=0, threshold=0, detail="no open flags")


def _store(r: Readings, c: HealthConfig, now: int) -> Check:
    name = "store_writable"
    if r.store_poisoned is None or r.store_fenced is None:
        return _not_checked(name, "warn", r, "store_poisoned", "store_fenced")
    if r.store_poisoned:
        return Check(name=name, status="critical", value=False, threshold=None,
                     detail="store poisoned: a commit failed with an unknown outcome")
    if r.store_fenced:
        return Check(name=name, status="critical", value=False, threshold=None,
                     detail="fenced: another writer took over the session")
    return Check(name=name, status="ok", value=True, threshold=None,
                 detail="not poisoned, not fenced")


_RULES: Final[tuple[tuple[str, _Rule], ...]] = (
    ("rss_bytes", _rss),
    ("cpu_percent", _cpu),
    ("disk_free_bytes", _disk_bytes),
    ("disk_free_percent", _disk_percent),
    ("open_fds_ratio", _fds),
    ("threads", _threads),
    ("journal_append_p99_seconds", _journal_latency),
    ("snapshot_age_seconds", _snapshot_age),
    ("backup_age_seconds", _backup_age),
    ("exchange_reachable", _exchange_reachable),
    ("exchange_rtt_seconds", _exchange_rtt),
    ("exchange_clock_skew_ms", _clock_skew),
    ("reconciliation_age_seconds", _reconciliation),
    ("event_loop_lag_seconds", _event_loop_lag),
    ("unknown_orders_oldest_age_seconds", _unknown_orders),
    ("open_flags", _flags),
    ("store_writable", _store),
)

CHECK_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in _RULES)
"""Every check, in report order (names for ``Readings.not_applicable``)."""


def run_checks(readings: Readings, thresholds: HealthConfig, ts_now_ns: int) -> tuple[Check, ...]:
    """Judge one round of ``readings`` at ``ts_now_ns``: one ``Check`` per check that
    applies, in ``CHECK_NAMES`` order."""
    return tuple(
        rule(readings, thresholds, ts_now_ns)
        for name, rule in _RULES
        if name not in readings.not_applicable
    )
