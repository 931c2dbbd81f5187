"""Fixtures of the browser tests: ``browser`` (one headless Chromium per module, skipped
loudly without /usr/bin/chromium or Playwright) and ``processes`` (subprocesses killed
at the end of the test).

The helpers live in ``browserkit.py``; a test module here imports them as
``from browserkit import ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browserkit import browser, processes

__all__ = ["browser", "processes"]
