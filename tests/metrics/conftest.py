"""Fixtures of the metrics tests: the session tests' simulator, gateway and store."""

from __future__ import annotations

import sys
from pathlib import Path

# simfixtures.py, gwhelpers.py and sessionfixtures.py are not on sys.path by themselves.
_TESTS = Path(__file__).resolve().parents[1]
for _path in (_TESTS, _TESTS / "exchange", _TESTS / "session"):
    sys.path.insert(0, str(_path))

from sessionfixtures import (  # noqa: E402 - after the sys.path set-up
    admin,
    gateway,
    journal_on_disk,
    sim,
    sim_config,
    store_config,
)

__all__ = ["admin", "gateway", "journal_on_disk", "sim", "sim_config", "store_config"]
