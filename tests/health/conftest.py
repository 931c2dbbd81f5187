"""The health tests' helpers (``healthfixtures.py``) and the simulator fixtures on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (_HERE.parent, _HERE):
    sys.path.insert(0, str(_path))

from simfixtures import sim, sim_config  # noqa: E402 - after the sys.path set-up

__all__ = ["sim", "sim_config"]
