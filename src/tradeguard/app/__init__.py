"""The running service: one runtime the command line, the chaos trader and the web
server call (``Runtime``), its supervised jobs (``JobTable``, ``JobStatus``), the
durable core (``service.LocalService``), the read-only status report (``status``) and
the journal demo flow (``journal_demo``). It may import every other package but the
command line (``tests/test_layers.py``).
"""

from __future__ import annotations

__all__: list[str] = []
