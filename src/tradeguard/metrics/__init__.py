"""Prometheus metrics of a running service: registry, event feed, ``/metrics`` server.

Nothing here imports prometheus_client, starlette or uvicorn at module level: the
command line's start-up does not pay for them.
"""

from __future__ import annotations

from tradeguard.metrics.feed import from_event, observe_journal_records, parse_found
from tradeguard.metrics.registry import (
    METRIC_NAMES,
    StateReading,
    TradeguardMetrics,
    reading_of,
)
from tradeguard.metrics.server import DEFAULT_HOST, DEFAULT_PORT, MetricsServer, metrics_app

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "METRIC_NAMES",
    "MetricsServer",
    "StateReading",
    "TradeguardMetrics",
    "from_event",
    "metrics_app",
    "observe_journal_records",
    "parse_found",
    "reading_of",
]
