"""Alerts: which to send (policy), what they say (catalog), how they go (delivery).

Importing this package is cheap: apprise is imported only when a delivery happens.
"""

from __future__ import annotations

from tradeguard.alerts.config import AlertsConfig, AlertTarget, mask_url, resolve_targets
from tradeguard.alerts.delivery import AlertDispatcher, AlertStats, TargetResult, deliver
from tradeguard.alerts.policy import Alert, AlertPolicy, Decision

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertPolicy",
    "AlertStats",
    "AlertTarget",
    "AlertsConfig",
    "Decision",
    "TargetResult",
    "deliver",
    "mask_url",
    "resolve_targets",
]
