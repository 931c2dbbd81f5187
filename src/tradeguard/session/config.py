"""Knobs of a trading session: ids, polling cadence, UNKNOWN resolution, recovery order.

``SessionSettings`` is the ``[session]`` table of the config file, so it is defined with
the other tables in ``tradeguard.config`` and re-exported here. ``Session.open`` takes
one (default: the config's); the defaults suit the simulator and a real exchange alike.
"""

from __future__ import annotations

from tradeguard.config import (
    DEFAULT_PRIORITY,
    PRIORITY_CRITERIA,
    PriorityCriterion,
    SessionSettings,
)

__all__ = [
    "DEFAULT_PRIORITY",
    "PRIORITY_CRITERIA",
    "PriorityCriterion",
    "SessionSettings",
    "store_tag",
]


def store_tag(first_record_ts_ns: int) -> str:
    """Six base-36 characters from the creation time of a store's first record."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    value, out = first_record_ts_ns // 1000, ""
    while value and len(out) < 6:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out
