"""The health monitor: pure checks (``checks``) and the adapter that reads the facts
(``readings``). Importing this package imports no psutil, ccxt or store code."""

from __future__ import annotations

from tradeguard.health.checks import (
    CHECK_NAMES,
    Check,
    HealthConfig,
    Readings,
    Status,
    run_checks,
    worst,
)

__all__ = ["CHECK_NAMES", "Check", "HealthConfig", "Readings", "Status", "run_checks", "worst"]
