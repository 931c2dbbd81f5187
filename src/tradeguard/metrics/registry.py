"""tradeguard's Prometheus metrics on a registry of their own.

:class:`TradeguardMetrics` owns a fresh ``CollectorRegistry`` (never the process-global
one, so two services or two tests in one process never collide), the process and
platform collectors, and tradeguard's metrics, named per Prometheus conventions: one
``tradeguard_`` prefix, base units (seconds), ``_total`` on counters, low-cardinality
labels only (no order ids).

Two kinds of value:

- events (a journal append, a submit's outcome, a reconciliation run, an exchange
  request, an alert) are counters and histograms updated by the small ``observe_*``
  methods, or from journaled events by :mod:`tradeguard.metrics.feed`;
- state (orders by status, UNKNOWN orders, open flags, snapshot and backup times) is
  read at scrape time from an injected ``state_provider()`` returning a
  :class:`StateReading`, so it can never drift from the session's state.

prometheus_client is imported inside the constructor: importing this module costs
nothing at start-up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

import msgspec

from tradeguard.domain.enums import FlagSeverity, OrderStatus
from tradeguard.domain.state import SessionState
from tradeguard.logs import get_logger

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "APPEND_BUCKETS_SECONDS",
    "HEALTH_STATUS_VALUES",
    "METRIC_NAMES",
    "SUBMIT_OUTCOMES",
    "CheckLike",
    "StateReading",
    "TradeguardMetrics",
    "reading_of",
]

_log = get_logger(__name__)

APPEND_BUCKETS_SECONDS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)
"""Journal append latency buckets: a durable SQLite commit is ~0.5-5 ms on a good disk."""
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
RECONCILE_BUCKETS_SECONDS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
EXCHANGE_BUCKETS_SECONDS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)

SUBMIT_OUTCOMES: Final = ("acked", "rejected", "ambiguous")
RECONCILE_RESULTS: Final = ("complete", "incomplete")
HEALTH_STATUS_VALUES: Final[Mapping[str, int]] = {"ok": 0, "warn": 1, "critical": 2}
"""``tradeguard_health_check_status`` values: 0 ok, 1 warn, 2 critical."""

METRIC_NAMES: Final[Mapping[str, str]] = {
    # name (as exposed; counters with their _total) -> Prometheus type
    "tradeguard_journal_append_seconds": "histogram",
    "tradeguard_events_appended_total": "counter",
    "tradeguard_group_commit_batch_size": "histogram",
    "tradeguard_orders": "gauge",
    "tradeguard_submits_total": "counter",
    "tradeguard_unknown_orders": "gauge",
    "tradeguard_reconciliations_total": "counter",
    "tradeguard_reconciliation_seconds": "histogram",
    "tradeguard_discrepancies_total": "counter",
    "tradeguard_open_flags": "gauge",
    "tradeguard_health_check_status": "gauge",
    "tradeguard_alerts_sent_total": "counter",
    "tradeguard_alerts_failed_total": "counter",
    "tradeguard_exchange_request_seconds": "histogram",
    "tradeguard_last_snapshot_age_seconds": "gauge",
    "tradeguard_last_snapshot_timestamp_seconds": "gauge",
    "tradeguard_last_backup_age_seconds": "gauge",
    "tradeguard_last_backup_timestamp_seconds": "gauge",
    "tradeguard_lease_held": "gauge",
    "tradeguard_lease_epoch": "gauge",
}
"""Every tradeguard metric this registry exposes and its type (the docs' table)."""


class StateReading(msgspec.Struct, frozen=True, kw_only=True):
    """What the state provider reports at a scrape. ``None`` times: never happened (the
    series is left out rather than reported as zero). ``lease_held``: this process
    holds the writer's epoch ``epoch`` (None: no writer here, the series are left out).
    """

    orders_by_status: Mapping[str, int]
    open_flags_by_severity: Mapping[str, int]
    last_snapshot_ns: int | None = None
    last_backup_ns: int | None = None
    lease_held: bool | None = None
    epoch: int | None = None


def reading_of(
    state: SessionState,
    *,
    last_snapshot_ns: int | None = None,
    last_backup_ns: int | None = None,
    lease_held: bool | None = None,
    epoch: int | None = None,
) -> StateReading:
    """A :class:`StateReading` from the session's state, in one pass over its orders.

    Every status and severity is present (zero when none), so the series never vanish.
    """
    orders = dict.fromkeys((s.value for s in OrderStatus), 0)
    for order in state.orders.values():
        orders[order.status.value] += 1
    flags = dict.fromkeys((s.value for s in FlagSeverity), 0)
    for flag in state.flags.values():
        if flag.is_open:
            flags[flag.severity.value] += 1
    return StateReading(
        orders_by_status=orders,
        open_flags_by_severity=flags,
        last_snapshot_ns=last_snapshot_ns,
        last_backup_ns=last_backup_ns,
        lease_held=lease_held,
        epoch=epoch,
    )


class CheckLike(Protocol):
    """A health check's verdict as the metrics need it (``health.checks.Check`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...


class _StateCollector:
    """Pull-style collector: asks the state provider at every scrape."""

    def __init__(
        self, provider: Callable[[], StateReading | None], clock_ns: Callable[[], int]
    ) -> None:
        self.provider = provider
        self.clock_ns = clock_ns
        self.failures = 0

    def describe(self) -> list[Any]:
        # Names only, so the registry can refuse a duplicate without calling provider().
        return list(self._families(None, 0))

    def collect(self) -> Iterator[Any]:
        try:
            reading = self.provider()
        except Exception as exc:  # noqa: BLE001 - a scrape shows what it can; logged
            # The state series go missing (Prometheus' "unknown"; absent() alerts on it)
            # rather than the whole scrape failing with the event counters.
            self.failures += 1
            _log.warning("metrics: state provider failed", error=f"{type(exc).__name__}: {exc}")
            return iter(())
        if reading is None:  # nothing to read yet (the session is still starting)
            return iter(())
        return iter(self._families(reading, self.clock_ns()))

    def _families(self, reading: StateReading | None, now_ns: int) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        orders = GaugeMetricFamily(
            "tradeguard_orders", "Orders in the session's state by status.", labels=["status"]
        )
        unknown = GaugeMetricFamily(
            "tradeguard_unknown_orders",
            "Orders whose submit got no definite answer (UNKNOWN), until resolved.",
        )
        flags = GaugeMetricFamily(
            "tradeguard_open_flags",
            "Open manual-intervention flags by severity.",
            labels=["severity"],
        )
        times = {
            name: GaugeMetricFamily(f"tradeguard_last_{name}", doc)
            for name, doc in (
                ("snapshot_age_seconds", "Seconds since the newest journal snapshot."),
                ("snapshot_timestamp_seconds", "When the newest journal snapshot was taken."),
                ("backup_age_seconds", "Seconds since the newest backup."),
                ("backup_timestamp_seconds", "When the newest backup was taken."),
            )
        }
        lease = GaugeMetricFamily(
            "tradeguard_lease_held",
            "1 while this process holds the session's writer epoch (the lease), else 0.",
        )
        epoch = GaugeMetricFamily(
            "tradeguard_lease_epoch", "The writer epoch (fencing token) this process holds."
        )
        if reading is not None:
            if reading.lease_held is not None:
                lease.add_metric([], 1 if reading.lease_held else 0)
            if reading.epoch is not None:
                epoch.add_metric([], reading.epoch)
            for status, count in sorted(reading.orders_by_status.items()):
                orders.add_metric([status], count)
            unknown.add_metric([], reading.orders_by_status.get(OrderStatus.UNKNOWN.value, 0))
            for severity, count in sorted(reading.open_flags_by_severity.items()):
                flags.add_metric([severity], count)
            for what, then_ns in (("snapshot", reading.last_snapshot_ns),
                                  ("backup", reading.last_backup_ns)):
                if then_ns is None:
                    continue
                times[f"{what}_timestamp_seconds"].add_metric([], then_ns / 1e9)
                times[f"{what}_age_seconds"].add_metric([], max(now_ns - then_ns, 0) / 1e9)
        yield orders
        yield unknown
        yield flags
        yield from times.values()
        yield lease
        yield epoch


class TradeguardMetrics:
    """tradeguard's metrics on their own registry (see the module docstring).

    ``state_provider`` is called at every scrape (on the loop serving ``/metrics``);
    without one the state-derived series are left out. ``clock_ns`` (wall clock, ns)
    computes the ages at scrape time; a test seam.
    """

    def __init__(
        self,
        state_provider: Callable[[], StateReading | None] | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        process_collector: bool = True,
    ) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            PlatformCollector,
            ProcessCollector,
        )

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process_collector:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
        self.journal_append_seconds = Histogram(
            "tradeguard_journal_append_seconds",
            "Latency of one durable journal append (stage to fsync'd), seconds.",
            buckets=APPEND_BUCKETS_SECONDS, registry=reg,
        )
        self.events_appended = Counter(
            "tradeguard_events_appended", "Events appended to the journal.", registry=reg
        )
        self.group_commit_batch_size = Histogram(
            "tradeguard_group_commit_batch_size",
            "Records made durable by one group commit.",
            buckets=BATCH_SIZE_BUCKETS, registry=reg,
        )
        self.submits = Counter(
            "tradeguard_submits",
            "Order submits by the exchange's answer: acked, rejected, or ambiguous "
            "(no definite answer: the order became UNKNOWN).",
            ["outcome"], registry=reg,
        )
        self.reconciliations = Counter(
            "tradeguard_reconciliations",
            "Reconciliation runs by result (incomplete: something could not be checked).",
            ["result"], registry=reg,
        )
        self.reconciliation_seconds = Histogram(
            "tradeguard_reconciliation_seconds", "Duration of one reconciliation run.",
            buckets=RECONCILE_BUCKETS_SECONDS, registry=reg,
        )
        self.discrepancies = Counter(
            "tradeguard_discrepancies",
            "Discrepancies reconciliation found, by type.", ["type"], registry=reg,
        )
        self.health_check_status = Gauge(
            "tradeguard_health_check_status",
            "Last status of each health check: 0 ok, 1 warn, 2 critical.",
            ["check"], registry=reg,
        )
        self.alerts_sent = Counter(
            "tradeguard_alerts_sent", "Alerts delivered, by severity.", ["severity"],
            registry=reg,
        )
        self.alerts_failed = Counter(
            "tradeguard_alerts_failed",
            "Alerts whose delivery failed after retries, by severity.", ["severity"],
            registry=reg,
        )
        self.exchange_request_seconds = Histogram(
            "tradeguard_exchange_request_seconds",
            "Latency of one exchange request by endpoint (gateway operation).",
            ["endpoint"], buckets=EXCHANGE_BUCKETS_SECONDS, registry=reg,
        )
        # Every label value known up front is exposed at 0, so rate() works from the
        # first scrape and a dashboard shows "0 rejected", not "no data".
        for outcome in SUBMIT_OUTCOMES:
            self.submits.labels(outcome=outcome)
        for result in RECONCILE_RESULTS:
            self.reconciliations.labels(result=result)
        # Client order ids whose submit has no answer fed yet (see metrics.feed): an
        # outcome event counts as a submit's only when it answers one of these.
        self.submits_in_flight: set[str] = set()
        self._health_checks: set[str] = set()
        self.state_collector: _StateCollector | None = None
        if state_provider is not None:
            self.state_collector = _StateCollector(state_provider, clock_ns)
            reg.register(self.state_collector)

    # --- events -----------------------------------------------------------------------

    def observe_journal_append(self, seconds: float) -> None:
        """One durable append took ``seconds`` (its events are counted by ``from_event``)."""
        self.journal_append_seconds.observe(seconds)

    def observe_events_appended(self, count: int) -> None:
        """``count`` events were appended, for a caller that does not feed them to
        ``metrics.feed.from_event`` (which counts each event it is given)."""
        self.events_appended.inc(count)

    def observe_group_commit(self, batch_size: int) -> None:
        """One group commit made ``batch_size`` records durable."""
        self.group_commit_batch_size.observe(batch_size)

    def observe_submit(self, outcome: str) -> None:
        """A submit's first answer: ``acked``, ``rejected`` or ``ambiguous``."""
        if outcome not in SUBMIT_OUTCOMES:
            raise ValueError(f"submit outcome {outcome!r} is not one of {SUBMIT_OUTCOMES}")
        self.submits.labels(outcome=outcome).inc()

    def observe_reconciliation(
        self, *, complete: bool, seconds: float, found: Mapping[str, int] | None = None
    ) -> None:
        """One reconciliation run: its result, duration, and discrepancies by type."""
        self.reconciliations.labels(result="complete" if complete else "incomplete").inc()
        self.reconciliation_seconds.observe(seconds)
        for kind, count in (found or {}).items():
            if count > 0:
                self.discrepancies.labels(type=kind).inc(count)

    def observe_health(self, checks: Iterable[CheckLike]) -> None:
        """The statuses of a health round's checks (an unknown status counts critical).

        A check the round left out (not applicable this time, e.g. append latency in
        an idle minute) loses its series rather than keep an old status.
        """
        seen: set[str] = set()
        for check in checks:
            value = HEALTH_STATUS_VALUES.get(check.status, HEALTH_STATUS_VALUES["critical"])
            self.health_check_status.labels(check=check.name).set(value)
            seen.add(check.name)
        for gone in self._health_checks - seen:
            with contextlib.suppress(KeyError):
                self.health_check_status.remove(gone)
        self._health_checks = seen

    def observe_alert(self, *, severity: str, sent: bool) -> None:
        """An alert was delivered (``sent``) or its delivery failed."""
        (self.alerts_sent if sent else self.alerts_failed).labels(severity=severity).inc()

    def observe_exchange_request(self, endpoint: str, seconds: float) -> None:
        """One exchange request to ``endpoint`` (a gateway operation name) took ``seconds``."""
        self.exchange_request_seconds.labels(endpoint=endpoint).observe(seconds)

    # --- exposition -------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
