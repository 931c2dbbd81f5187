"""The running service: one runtime the command line, the chaos trader and the web
server call (``Runtime``), its supervised jobs (``JobTable``, ``JobStatus``), the
durable core (``service.LocalService``), the read-only status report (``status``) and
the journal demo flow (``journal_demo``).

Imported lazily by the command line's commands: this package pulls in ccxt and aiohttp.
"""

from __future__ import annotations

__all__: list[str] = []
