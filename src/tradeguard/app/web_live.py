"""The live stream behind ``/api/events``: one hub, a bounded queue per subscriber.
(Skeleton: filled in with the read API.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.app.service import LocalService

__all__ = ["LiveHub"]


class LiveHub:
    """Fans journal records, health changes and start-up progress out to subscribers."""

    def attach(self, service: LocalService) -> None:
        """Start publishing every durable append of ``service``'s journal."""
        del service

    def publish(self, name: str, data: Json) -> None:
        """Hand ``(name, data)`` to every subscriber (never blocks)."""
        del name, data

    def close(self) -> None:
        """End every subscription (the service stops)."""
