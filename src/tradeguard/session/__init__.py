"""The trading session: write-ahead orders, UNKNOWN resolution, fills, trade recovery."""

from __future__ import annotations

from tradeguard.session.config import SessionSettings
from tradeguard.session.recovery import RecoveryAction, prioritise
from tradeguard.session.session import Session, StartupReport, flag_resolution

__all__ = [
    "RecoveryAction",
    "Session",
    "SessionSettings",
    "StartupReport",
    "flag_resolution",
    "prioritise",
]
