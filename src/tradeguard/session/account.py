"""Which exchange account a session's store belongs to: bound once, checked every start.

At the first start the session journals ``AccountBound`` (the exchange id and the
gateway's account fingerprint, a hash of the API key). Every later start, and every
``reconcile``, compares the gateway it is given with that binding and refuses a
different account with a clear error: reconciling one account's journal against another
account would adopt strangers' orders and fills. A person who means it (a rotated API
key, a session moved to another account) passes ``adopt`` (``--adopt-account``); the
adoption is journaled with the binding it replaces.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tradeguard.domain.events import AccountBound
from tradeguard.domain.state import SessionState
from tradeguard.errors import ConfigError
from tradeguard.logs import get_logger

if TYPE_CHECKING:
    from tradeguard.session.ports import SessionJournalPort

__all__ = ["AccountIdentified", "account_of", "bind_account", "plan_binding"]

_log = get_logger("tradeguard.session.account")


@runtime_checkable
class AccountIdentified(Protocol):
    """A gateway that can say which account it trades (``CcxtGateway`` can)."""

    exchange_id: str

    @property
    def account_fingerprint(self) -> str:
        """A stable, non-secret identifier of the account (e.g. a hash of the API key)."""
        ...


def account_of(gateway: object) -> tuple[str, str] | None:
    """``(exchange id, account fingerprint)`` of ``gateway``, or None if it cannot say."""
    if not isinstance(gateway, AccountIdentified):
        return None
    return gateway.exchange_id, gateway.account_fingerprint


def plan_binding(
    state: SessionState, account: tuple[str, str], *, adopt: bool
) -> AccountBound | None:
    """The ``AccountBound`` to journal for trading ``account`` on ``state``, if any.

    None when the session is bound to ``account`` already. Raises ``ConfigError``
    naming both accounts when it is bound to another one and ``adopt`` is False.
    """
    exchange_id, fingerprint = account
    now = time.time_ns()
    if state.account is None:
        return AccountBound(
            ts_ns=now, exchange_id=exchange_id, account=fingerprint, note="first start"
        )
    if state.account == account:
        return None
    bound = f"{state.account[0]}:{state.account[1]}"
    if not adopt:
        raise ConfigError(
            f"this session's store belongs to exchange account {bound}, but the exchange "
            f"configured now is {exchange_id}:{fingerprint} (another exchange, API key or "
            "account): trading or reconciling would mix two accounts' orders and fills. "
            "Point the config at the right account, or pass --adopt-account to bind the "
            "session to this one (journaled)"
        )
    return AccountBound(
        ts_ns=now,
        exchange_id=exchange_id,
        account=fingerprint,
        previous=bound,
        note="adopted by a person (--adopt-account)",
    )


async def bind_account(service: SessionJournalPort, gateway: object, *, adopt: bool) -> None:
    """Check ``gateway``'s account against the session's binding; journal a new one."""
    account = account_of(gateway)
    if account is None:
        _log.warning("the gateway does not identify its account; binding not checked")
        return
    event = plan_binding(service.state, account, adopt=adopt)
    if event is None:
        return
    await service.append([event])
    if event.previous:
        _log.warning(
            "session adopted another exchange account",
            previous=event.previous,
            account=f"{event.exchange_id}:{event.account}",
        )
    else:
        _log.info("session bound to its exchange account",
                  account=f"{event.exchange_id}:{event.account}")
