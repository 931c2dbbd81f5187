"""Fault injection rules: what the simulator does wrong, to which requests, how often.

A rule matches by HTTP method and path (exact, or a prefix ending in ``*``) and fires
for the next ``count`` matching requests. Rules are checked in the order they were set.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["FaultAction", "FaultBook", "FaultRule"]

FaultAction = Literal["delay", "status", "error_code", "drop", "process_then_fail"]


class FaultRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One fault: ``action`` applied to the next ``count`` requests matching it.

    - ``delay``: wait ``delay_ms``, then answer normally.
    - ``status``: answer HTTP ``status`` (default 503) with a non-JSON body, unprocessed;
      with ``code`` set the body is Binance's JSON error instead.
    - ``error_code``: answer Binance error ``code`` (HTTP ``status``, default 400).
    - ``drop``: close the connection before processing; nothing happens.
    - ``process_then_fail``: process the request (an order IS placed), then close the
      connection without an answer, or answer HTTP ``status`` when one is given.
    """

    path: str
    action: FaultAction
    method: str = "*"
    count: int = 1
    delay_ms: int = 0
    status: int = 0
    code: int = 0
    message: str = "Simulated failure."

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to a request."""
        if self.method not in ("*", method.upper()):
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


class _Armed(msgspec.Struct, kw_only=True):
    rule: FaultRule
    left: int


class FaultBook:
    """The active fault rules and how many firings each has left."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []

    def __bool__(self) -> bool:
        return bool(self._armed)

    def add(self, rule: FaultRule) -> None:
        """Arm a rule for its next ``count`` matching requests."""
        if rule.count > 0:
            self._armed.append(_Armed(rule=rule, left=rule.count))

    def clear(self) -> None:
        """Disarm every rule."""
        self._armed.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching this request, consuming one of its firings."""
        for armed in self._armed:
            if armed.rule.matches(method, path):
                armed.left -= 1
                if armed.left <= 0:
                    self._armed.remove(armed)
                return armed.rule
        return None

    def describe(self) -> list[dict[str, object]]:
        """The armed rules with their remaining counts (for the admin state)."""
        return [
            {**msgspec.structs.asdict(a.rule), "remaining": a.left} for a in self._armed
        ]
