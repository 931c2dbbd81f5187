"""tradeguard: a crash-safe order, position and balance manager for trading bots."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
