"""Feeding the runtime's metrics from the running service. (Skeleton.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeguard.metrics.registry import TradeguardMetrics

if TYPE_CHECKING:
    from tradeguard.app.service import LocalService

__all__ = ["attach_metrics"]


def attach_metrics(metrics: TradeguardMetrics, service: LocalService) -> None:
    """From now on, feed ``metrics`` from ``service``'s appends."""
    del metrics, service
