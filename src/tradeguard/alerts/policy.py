"""Which alerts are sent: de-duplication, cool-down per key, severity floor, rate cap.

Pure (no I/O, no clock): the caller passes ``now_ns``. An alert that passes reserves
its slot at once (its key's cool-down and a place in the hourly cap), whether or not
delivery later succeeds, so a broken channel is never hammered.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import Final, Literal

import msgspec

from tradeguard.alerts.config import Severity

__all__ = [
    "SEVERITY_RANK",
    "Alert",
    "AlertPolicy",
    "Decision",
    "SuppressReason",
]

SEVERITY_RANK: Final[dict[str, int]] = {"info": 0, "warning": 1, "critical": 2}

SuppressReason = Literal["duplicate", "already_sent", "severity", "cooldown", "rate"]

_HOUR_NS: Final = 3600 * 10**9
_SEEN_KEPT: Final = 10_000


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One notification. ``key`` groups repeats of the same condition (cool-down and
    de-duplication are per key); ``ts_ns`` is when the condition happened, and with
    ``key`` identifies this alert (a replay of it is a duplicate)."""

    key: str
    severity: Severity
    title: str
    body: str
    ts_ns: int


class Decision(msgspec.Struct, frozen=True):
    """Send it, or not and why (``reason`` is None when ``send`` is True)."""

    send: bool
    reason: SuppressReason | None = None


class AlertPolicy:
    """Decides send or suppress for each alert, and counts what it suppressed."""

    def __init__(
        self,
        *,
        cooldown_seconds: float,
        min_severity: Severity = "info",
        max_per_hour: int = 1_000_000,
    ) -> None:
        self._cooldown_ns = int(cooldown_seconds * 10**9)
        self._floor = SEVERITY_RANK[min_severity]
        self._max_per_hour = max_per_hour
        self._last_sent: dict[str, int] = {}
        # Alerts already decided, oldest first; bounded (a replay comes soon after).
        self._seen: dict[tuple[str, int], None] = {}
        self._window: deque[int] = deque()
        self.suppressed: Counter[str] = Counter()
        """Suppressed alerts by reason."""
        self.sent = 0
        """Alerts this policy let through."""

    def decide(self, alert: Alert, now_ns: int) -> Decision:
        """Whether ``alert`` goes out at ``now_ns``; a send reserves its slot."""
        identity = (alert.key, alert.ts_ns)
        if identity in self._seen:
            return self._suppress("duplicate")
        self._remember(identity)
        # An unknown severity (a caller bypassing the type) errs on the side of sending.
        if SEVERITY_RANK.get(alert.severity, 2) < self._floor:
            return self._suppress("severity")
        last = self._last_sent.get(alert.key)
        # A clock that stepped back (now < last) counts as "within the cool-down".
        if last is not None and now_ns - last < self._cooldown_ns:
            return self._suppress("cooldown")
        while self._window and now_ns - self._window[0] >= _HOUR_NS:
            self._window.popleft()
        if len(self._window) >= self._max_per_hour:
            return self._suppress("rate")
        self._window.append(now_ns)
        self._last_sent[alert.key] = now_ns
        self.sent += 1
        return Decision(send=True)

    def suppress_already_sent(self, alert: Alert) -> Decision:
        """Record that ``alert`` was already sent by an earlier run (journal says so)."""
        self._remember((alert.key, alert.ts_ns))
        return self._suppress("already_sent")

    def restore(self, sent: Iterable[tuple[str, int]]) -> None:
        """Seed cool-downs and the hourly cap from ``(key, sent_ns)`` of earlier sends,
        e.g. read back from journaled ``AlertSent`` events after a restart."""
        for key, sent_ns in sorted(sent, key=lambda pair: pair[1]):
            self._last_sent[key] = max(sent_ns, self._last_sent.get(key, sent_ns))
            self._window.append(sent_ns)

    def _remember(self, identity: tuple[str, int]) -> None:
        self._seen[identity] = None
        if len(self._seen) > _SEEN_KEPT:
            del self._seen[next(iter(self._seen))]

    def _suppress(self, reason: SuppressReason) -> Decision:
        self.suppressed[reason] += 1
        return Decision(send=False, reason=reason)
