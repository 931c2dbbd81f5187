"""The write endpoints, behind ``Authorization: Bearer <token>``. (Skeleton.)"""

from __future__ import annotations

from typing import Any

from tradeguard.web.source import ServiceView

__all__ = ["write_routes"]


def write_routes(view: ServiceView, *, token: str | None, token_name: str) -> list[Any]:
    """Starlette routes of the write endpoints (none without a token)."""
    del view, token, token_name
    return []
