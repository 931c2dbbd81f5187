"""Instruments: the markets a session trades, as registered by its events."""

from __future__ import annotations

import msgspec

from tradeguard.domain.enums import MarketKind
from tradeguard.domain.ids import Asset, Symbol

__all__ = ["Instrument"]


class Instrument(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A market the session trades; ``settle`` is the margin asset of a perpetual."""

    symbol: Symbol
    kind: MarketKind
    base: Asset
    quote: Asset
    settle: Asset | None = None
