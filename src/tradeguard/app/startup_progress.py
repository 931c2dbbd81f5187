"""What the runtime's start-up is doing and what it found (``/api/recovery``). (Skeleton.)"""

from __future__ import annotations

from tradeguard.recovery.manager import RecoveryProgress
from tradeguard.web.source import Json

__all__ = ["StartupTracker"]


class StartupTracker:
    """Follows one start-up: the store's recovery, then the session's (reconcile,
    UNKNOWN resolution, missed fills, recovery actions)."""

    def __init__(self) -> None:
        self.phase = "waiting"
        self.done = 0
        self.total = 0

    def on_recovery(self, progress: RecoveryProgress) -> None:
        """``LocalService.start``'s progress callback (on the loop's thread or not)."""
        self.phase = progress.phase
        self.done = progress.done
        self.total = progress.total

    def as_json(self) -> Json:
        return {"phase": self.phase, "done": self.done, "total": self.total}
