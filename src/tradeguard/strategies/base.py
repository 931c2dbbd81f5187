"""The ``Strategy`` protocol: what a trading bot implements to run inside a Session.

A strategy is any class with these three methods; it does not inherit from anything.
The session calls them, one at a time, never concurrently:

- ``await on_start(session)`` once, after recovery, before the first tick;
- ``await on_tick(session)`` every ``tick_interval_seconds`` while running; it places
  and cancels orders through ``session.submit_order`` / ``session.cancel_order`` and
  reads ``session.open_orders()``, ``session.positions``, ``session.balances``;
- ``recovery_action(order)`` during trade recovery after a restart, for every order
  that was journaled but provably never reached the exchange (NOT_PLACED): return
  ``"resubmit"`` to send it again (under a new client order id) or ``"drop"``.

An exception from ``on_tick`` is logged and the next tick runs; ``OrderBlockedError``
means a manual-intervention flag stops new orders on that symbol (``tradeguard flags``).
Load one from ``module:Class`` with :func:`load_strategy` (``[strategy] class``); the
``[strategy.params]`` table is passed to its constructor as keyword arguments. A
constructor that refuses a parameter raises :class:`StrategyParameterError` (or
``TypeError``/``ValueError``); the error then names ``strategy.params.<name>``.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from tradeguard.errors import ConfigError

if TYPE_CHECKING:
    from tradeguard.domain.orders import Order
    from tradeguard.session.session import Session

__all__ = ["Strategy", "StrategyParameterError", "load_strategy"]


class StrategyParameterError(ValueError):
    """A strategy's constructor refuses parameter ``name`` (message: why, and what it got)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} {message}")
        self.name = name
        self.reason = message


@runtime_checkable
class Strategy(Protocol):
    """A trading strategy driven by a :class:`~tradeguard.session.Session`."""

    async def on_start(self, session: Session) -> None:
        """Called once when the session is ready (recovered and reconciled)."""
        ...

    async def on_tick(self, session: Session) -> None:
        """Called every tick: look at the market and the session, place/cancel orders."""
        ...

    def recovery_action(self, order: Order) -> Literal["resubmit", "drop"]:
        """After a restart: resubmit or drop an order that never reached the exchange."""
        ...


def load_strategy(spec: str, **kwargs: Any) -> Strategy:
    """Instantiate the strategy named ``module:Class`` (keyword arguments passed on).

    Raises ``ConfigError`` when the module or class cannot be found or the class does
    not implement the protocol.
    """
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ConfigError(f"strategy {spec!r} must be written 'module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"strategy {spec!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"strategy {spec!r}: module {module_name!r} has no {class_name!r}")
    try:
        strategy = cls(**kwargs)
    except StrategyParameterError as exc:
        raise ConfigError(
            f"key 'strategy.params.{exc.name}': {exc.reason} (strategy {spec})"
        ) from exc
    except TypeError as exc:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unexpected:
            raise ConfigError(
                f"key 'strategy.params.{unexpected.group(1)}': unknown parameter of "
                f"strategy {spec}"
            ) from exc
        raise ConfigError(f"key 'strategy.params': strategy {spec}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"key 'strategy.params': strategy {spec}: {exc}") from exc
    if not isinstance(strategy, Strategy):
        raise ConfigError(
            f"strategy {spec!r} does not implement on_start, on_tick and recovery_action"
        )
    return strategy
