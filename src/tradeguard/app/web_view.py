"""The runtime as the web side sees it: :class:`RuntimeView` implements
:class:`~tradeguard.web.source.ServiceView` (reads in ``web_read``, actions in
``web_actions``, start-up progress in ``startup_progress``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeguard.app.web_actions import ActionsView
from tradeguard.app.web_live import LiveHub
from tradeguard.app.web_read import ReadView
from tradeguard.web.source import Json

if TYPE_CHECKING:
    from tradeguard.app.runtime import Runtime

__all__ = ["RuntimeView"]


class RuntimeView(ReadView, ActionsView):
    """What the dashboard and the API show and do, read from one :class:`Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.hub = LiveHub()

    def recovery(self) -> Json:
        return self.runtime.startup_progress.as_json()
