"""Fixtures of the web tests: a real running service (``service``, ``start_service``).

The helpers live in ``webfixtures.py`` (import ``until``, ``Api``, ``FAST``... from it);
a test module here imports them as ``from webfixtures import ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webfixtures import service, start_service

__all__ = ["service", "start_service"]
