"""A pause of new orders: who stopped them, since when and why.

A person pauses a running session (``TradingPaused``) when they want it to stop taking
new risk without stopping it: new orders are refused, everything else goes on (cancels,
fills, reconciliation, flag actions). It is part of the state, so a restart (replay or
snapshot) stays paused until someone resumes (``TradingResumed``).
"""

from __future__ import annotations

import msgspec

__all__ = ["Pause"]


class Pause(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """New orders are paused since ``since_ns`` by ``by`` (a token's name), for ``note``."""

    since_ns: int
    by: str
    note: str = ""
