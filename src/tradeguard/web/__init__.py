"""The service's HTTP side: dashboard at ``/``, JSON API under ``/api``, ``/metrics``.

An adapter like the command line: it knows nothing of the runtime, the session or the
store. It serves a :class:`~tradeguard.web.source.ServiceView` (what the running
service shows and lets a person do), which the runtime implements
(``tradeguard.app.web_view``). starlette and uvicorn are imported only when an app or a
server is made, so importing this package costs nothing at start-up.
"""

from __future__ import annotations

__all__: list[str] = []
