"""Strategies: the protocol a bot implements and the sample grid."""

from __future__ import annotations

from tradeguard.strategies.base import Strategy, StrategyParameterError, load_strategy

__all__ = ["Strategy", "StrategyParameterError", "load_strategy"]
