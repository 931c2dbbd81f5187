"""The reconciliation policy: tolerances and what to do with what cannot be explained.

A frozen msgspec struct with units in the field names, built from the ``[reconcile]``
table of the config file by ``ReconcilePolicy.from_settings``. Fields the config file
does not (yet) carry keep their defaults here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from tradeguard.config import ReconcileSettings

__all__ = ["DEFAULT_UNKNOWN_GRACE_NS", "ReconcilePolicy"]

DEFAULT_UNKNOWN_GRACE_NS = 30_000_000_000
"""30 s: Binance refuses a request more than ``recvWindow`` (10 s by default) after its
timestamp, so an order still absent 30 s after its intent was never placed."""


class ReconcilePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the diff turns discrepancies into corrections and flags.

    - ``external_orders``: an open order on the exchange that is not ours is raised as a
      flag (``"flag"``) or tracked as ours from now on (``"adopt"``).
    - ``balance_tolerance``: absolute difference per asset ignored as rounding.
    - ``large_balance_change_ratio``: a balance whose total moved, beyond what this
      run's fills explain, by more than this fraction of its previous total is
      corrected *and* flagged (a deposit is only corrected and logged).
    - ``position_tolerance``: absolute size difference of a perpetual position ignored.
    - ``unknown_grace_ns``: how long after its intent an order that the exchange does
      not know is still given the benefit of the doubt before it is ``NOT_PLACED``.
    """

    external_orders: Literal["flag", "adopt"] = "flag"
    balance_tolerance: Decimal = Decimal("0.00000001")
    large_balance_change_ratio: Decimal = Decimal("0.1")
    position_tolerance: Decimal = Decimal("0.00000001")
    unknown_grace_ns: int = DEFAULT_UNKNOWN_GRACE_NS

    def __post_init__(self) -> None:
        for name in ("balance_tolerance", "large_balance_change_ratio", "position_tolerance"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise ValueError(f"reconcile.{name} must be a finite number >= 0, got {value}")
        if self.unknown_grace_ns < 0:
            raise ValueError(
                f"reconcile.unknown_grace_ns must be >= 0, got {self.unknown_grace_ns}"
            )

    @classmethod
    def from_settings(cls, settings: ReconcileSettings, **overrides: object) -> ReconcilePolicy:
        """The policy of a ``[reconcile]`` config table (plus explicit overrides)."""
        fields: dict[str, object] = {
            "external_orders": settings.external_orders,
            "balance_tolerance": settings.balance_tolerance,
        }
        fields.update(overrides)
        return msgspec.convert(fields, cls, strict=False)
