"""Crash torture for the trading session (``tradeguard chaos``).

``run_chaos(ChaosConfig(cycles=N, seed=S))`` kills the demo trader at random moments and
at crash points inside the write-ahead protocol, restarts it, and checks every restart
against the simulator's ground truth; see :mod:`tradeguard.chaos.harness`.
"""

from __future__ import annotations

from tradeguard.chaos.checks import Checkpoint, CheckResult, check_checkpoint
from tradeguard.chaos.harness import (
    CRASH_POINTS,
    FAULTS,
    KILL_KINDS,
    ChaosConfig,
    ChaosReport,
    CyclePlan,
    plan_cycle,
    run_chaos,
)

__all__ = [
    "CRASH_POINTS",
    "FAULTS",
    "KILL_KINDS",
    "ChaosConfig",
    "ChaosReport",
    "CheckResult",
    "Checkpoint",
    "CyclePlan",
    "check_checkpoint",
    "plan_cycle",
    "run_chaos",
]
