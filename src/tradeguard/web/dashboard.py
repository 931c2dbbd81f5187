"""The dashboard: one page at ``/`` and its static files. (Skeleton.)"""

from __future__ import annotations

from typing import Any

__all__ = ["dashboard_routes"]


def dashboard_routes() -> list[Any]:
    """Starlette routes serving the dashboard page and its static files."""
    return []
