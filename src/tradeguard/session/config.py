"""Knobs of a trading session: ids, polling cadence, UNKNOWN resolution, recovery order.

Frozen msgspec structs with units in the field names. ``Session.open`` takes one; the
defaults suit the simulator and a real exchange alike (only the cadence differs).
"""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec

from tradeguard.domain.ids import CLIENT_ORDER_ID_MAX_LEN

__all__ = [
    "DEFAULT_PRIORITY",
    "PRIORITY_CRITERIA",
    "PriorityCriterion",
    "SessionSettings",
]

PriorityCriterion = Literal["cancel", "reduce_only", "closing", "notional"]
"""One criterion of the trade-recovery ordering (see ``session.recovery.prioritise``)."""

PRIORITY_CRITERIA: Final[frozenset[str]] = frozenset(
    {"cancel", "reduce_only", "closing", "notional"}
)

DEFAULT_PRIORITY: Final[tuple[PriorityCriterion, ...]] = (
    "cancel",
    "reduce_only",
    "closing",
    "notional",
)
"""Risk-reducing first (cancels, reduce-only, position-closing), then by notional."""

# Room left in Binance's 36 characters for "-<seq>" with a seq up to 10**15.
_MAX_PREFIX_LEN: Final = CLIENT_ORDER_ID_MAX_LEN - 17


class SessionSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a :class:`~tradeguard.session.Session` runs.

    - ``client_id_prefix``: the per-session prefix of client order ids (``tg`` + the
      store's session id when empty); ids are ``<prefix>-<journal seq>``.
    - ``symbols``: markets to register and watch even before an order exists there.
    - ``poll_interval_seconds``: fills (trades) and order status polling.
    - ``tick_interval_seconds``: how often the strategy's ``on_tick`` runs.
    - ``unknown_grace_seconds``: an UNKNOWN order the exchange does not know becomes
      NOT_PLACED only this long after its intent (the exchange may still be processing;
      Binance drops a request older than its 10 s ``recvWindow``, so 30 s is safe).
    - ``resolve_backoff_*``: backoff of the by-client-id queries for UNKNOWN orders.
    - ``recovery_priority``: the criteria of the trade-recovery ordering, in order.
    """

    client_id_prefix: str = ""
    symbols: tuple[str, ...] = ()
    poll_interval_seconds: float = 1.0
    tick_interval_seconds: float = 2.0
    unknown_grace_seconds: float = 30.0
    resolve_backoff_initial_seconds: float = 0.25
    resolve_backoff_max_seconds: float = 15.0
    recovery_priority: tuple[PriorityCriterion, ...] = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        if self.client_id_prefix and (
            len(self.client_id_prefix) > _MAX_PREFIX_LEN
            or re.fullmatch(r"[.A-Za-z0-9:/_]+", self.client_id_prefix) is None
        ):
            raise ValueError(
                f"session.client_id_prefix {self.client_id_prefix!r} must be 1-{_MAX_PREFIX_LEN} "
                "characters of [.A-Za-z0-9:/_] (the exchange allows 36 with the sequence)"
            )
        for name in (
            "poll_interval_seconds",
            "tick_interval_seconds",
            "resolve_backoff_initial_seconds",
            "resolve_backoff_max_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"session.{name} must be greater than 0")
        if self.unknown_grace_seconds < 0:
            raise ValueError("session.unknown_grace_seconds must be >= 0")
        if len(set(self.recovery_priority)) != len(self.recovery_priority):
            raise ValueError("session.recovery_priority lists a criterion twice")

    def prefix_for(self, session_id: str, store_tag: str = "") -> str:
        """The client id prefix: configured, else ``tg`` + a sanitised session id + the
        store's tag (so a wiped and recreated store never reuses an old store's ids,
        which a lookup by client order id could otherwise confuse)."""
        if self.client_id_prefix:
            return self.client_id_prefix
        cleaned = re.sub(r"[^A-Za-z0-9]", "", session_id)[: _MAX_PREFIX_LEN - 2 - len(store_tag)]
        return f"tg{cleaned}{store_tag}"


def store_tag(first_record_ts_ns: int) -> str:
    """Six base-36 characters from the creation time of a store's first record."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    value, out = first_record_ts_ns // 1000, ""
    while value and len(out) < 6:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out
