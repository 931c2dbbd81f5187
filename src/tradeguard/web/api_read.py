"""The read endpoints (JSON) and the live event stream. (Skeleton: filled in next.)"""

from __future__ import annotations

from typing import Any

from tradeguard.web.source import ServiceView

__all__ = ["read_routes"]


def read_routes(view: ServiceView) -> list[Any]:
    """Starlette routes of the read endpoints of ``view``."""
    del view
    return []
