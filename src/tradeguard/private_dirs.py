"""Directories that hold journal data, logs or backups: created owner-only (0700).

``Path.mkdir(mode=0o700, parents=True)`` applies the mode to the last component only;
its parents get the default 0755, so a data directory created as the parent of
``logs/`` was world-readable. ``make_private_dir`` creates every missing component
0700 itself. Directories that already exist are left as their owner made them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "make_private_dir"]

PRIVATE_DIR_MODE = 0o700


def make_private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700; return it.

    Raises ``FileExistsError``/``NotADirectoryError`` when a component is a file, and
    ``OSError`` when a directory cannot be created (callers translate).
    """
    target = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    missing: list[Path] = []
    probe = target
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
    return target
