"""The alerts tests' real receivers on 127.0.0.1 (defined in ``receivers.py``)."""

from __future__ import annotations

from .receivers import smtp_inbox, stuck_receiver, webhook

__all__ = ["smtp_inbox", "stuck_receiver", "webhook"]
