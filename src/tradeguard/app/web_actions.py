"""The actions of the runtime's web view (flag resolve, reconcile, pause). (Skeleton.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.app.runtime import Runtime

__all__ = ["ActionsView"]


class ActionsView:
    """Actions of :class:`~tradeguard.web.source.ServiceView` on a :class:`Runtime`."""

    runtime: Runtime

    def pause_status(self) -> Json:
        """Whether new orders are paused, since when and by whom (``/api/status``)."""
        return {"paused": False}

    async def resolve_flag(self, flag_id: str, *, action: str, note: str, who: str) -> Json:
        raise NotImplementedError("resolve_flag")

    async def reconcile_now(self, *, who: str) -> Json:
        raise NotImplementedError("reconcile_now")

    async def pause(self, *, who: str) -> Json:
        raise NotImplementedError("pause")

    async def resume(self, *, who: str) -> Json:
        raise NotImplementedError("resume")
