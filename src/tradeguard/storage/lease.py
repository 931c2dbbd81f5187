"""The writer's lease of a session: one holder at a time, fenced by the epoch.

A lease row per session names its holder (an instance id), the epoch it was granted and
when it expires. ``acquire`` succeeds only when no live lease exists or the live one is
the caller's own, and it advances the session's epoch in the SAME transaction as it
takes the lease: every append of an earlier holder then fails its epoch check (the
fence every append already runs in its own transaction). ``renew`` is a compare-and-set
on holder and epoch that also fails once the lease has expired; ``release`` expires it
at once so a standby can take over without waiting for the TTL.

Time: a backend judges expiry by ONE clock, never a client's wall clock. PostgreSQL
uses the server's ``clock_timestamp()`` in the statement that decides; SQLite (one
host) uses the host's monotonic clock, valid within one boot. Independently, every
:class:`Lease` carries a client-side safety deadline, ``valid_until_monotonic``: the
local monotonic time read BEFORE the request was sent, plus the TTL. The store's expiry
is computed after the request arrived, so network delay and a slow server only make the
local deadline earlier than the store's, never later (clock rates are assumed equal to
within a small margin, not clock values). A holder checks ``lease.safe_for(timeout)``
before every exchange request: past its deadline, it sends nothing.
"""

from __future__ import annotations

import abc
import asyncio
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec

from tradeguard.errors import LeaseLostError, StoreError

__all__ = [
    "MAX_TTL_S",
    "Grant",
    "Lease",
    "LeaseInfo",
    "SessionLease",
    "acquire_when_free",
    "holder_id",
    "open_lease",
]

MAX_TTL_S = 86_400.0
"""A lease longer than a day is surely a unit mistake (milliseconds given as seconds)."""


class LeaseInfo(msgspec.Struct, frozen=True):
    """What the store says about a session's lease right now (by the store's clock)."""

    session_id: str
    holder: str
    epoch: int
    """The epoch the lease was granted (the fencing token of its holder)."""
    expires_at: datetime
    """Aware UTC time of expiry: the server's clock on PostgreSQL; on SQLite the local
    wall clock's reading of the monotonic expiry (for display; expiry is decided on the
    monotonic clock)."""
    remaining_s: float
    """Seconds until expiry by the store's clock; 0 once expired (or released)."""

    @property
    def live(self) -> bool:
        """True while the lease has not expired: nobody else can acquire it."""
        return self.remaining_s > 0


class Lease(msgspec.Struct, frozen=True):
    """A lease this process holds: the result of ``acquire`` or ``renew``."""

    session_id: str
    holder: str
    epoch: int
    """The fencing token: journal appends of this holder must carry it."""
    ttl_s: float
    expires_at: datetime
    """When the store will let another holder take over (store's clock, aware UTC)."""
    valid_until_monotonic: float
    """Local ``time.monotonic()`` deadline, taken before the request was sent, plus the
    TTL: never later than the store's expiry (network delay only shortens it)."""

    def remaining_s(self, now: float | None = None) -> float:
        """Seconds left before the local safety deadline (negative once past it)."""
        return self.valid_until_monotonic - (time.monotonic() if now is None else now)

    def safe_for(self, seconds: float, *, now: float | None = None) -> bool:
        """True while the lease stays valid for longer than ``seconds`` (by the local
        deadline): check with the request timeout before every exchange send."""
        return self.remaining_s(now) > seconds


class Grant(msgspec.Struct, frozen=True):
    """What a backend answers to a successful acquire or renew."""

    epoch: int
    expires_at: datetime


def _check_request(holder: str, ttl_s: float) -> None:
    if not holder or not isinstance(holder, str):
        raise StoreError("a lease holder must be a non-empty string")
    if not 0 < ttl_s <= MAX_TTL_S:
        raise StoreError(f"a lease TTL must be in (0, {MAX_TTL_S:g}] seconds, got {ttl_s!r}")


def holder_id(run_id: str) -> str:
    """An instance id that names this process: ``<run_id>:<pid>@<host>``."""
    return f"{run_id}:{os.getpid()}@{socket.gethostname()}"


class SessionLease(abc.ABC):
    """The lease of one session in one store. Thread-safe; every call is blocking.

    Backends implement the compare-and-set steps (``_try_acquire``, ``_try_renew``,
    ``_try_release``, ``read``, ``_store_epoch``); this class adds the client-side
    deadline and the errors. A failed request to the store (connection lost, store
    busy) raises ``StoreError`` with an unknown outcome; ``renew`` is idempotent and
    may be retried, and a retried ``acquire`` finds the lease its own.
    """

    session_id: str
    url: str

    # --- what a backend provides ---------------------------------------------------

    @abc.abstractmethod
    def _try_acquire(self, holder: str, ttl_s: float) -> Grant | None:
        """Take the lease and advance the epoch in one transaction, or None if another
        holder's lease is live."""

    @abc.abstractmethod
    def _try_renew(self, lease: Lease, ttl_s: float) -> Grant | None:
        """Extend the lease if holder and epoch still match, it has not expired, and
        the store's epoch is still the lease's; else None."""

    @abc.abstractmethod
    def _try_release(self, lease: Lease) -> bool:
        """Expire the lease now if it is still ``lease``; True if it was."""

    @abc.abstractmethod
    def read(self) -> LeaseInfo | None:
        """The session's lease as the store sees it now (None: never taken)."""

    @abc.abstractmethod
    def _store_epoch(self) -> int:
        """The session's current epoch (what appends are checked against)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; the lease itself stays until it expires. Idempotent."""

    # --- the contract --------------------------------------------------------------

    def acquire(self, holder: str, ttl_s: float) -> Lease | None:
        """Take the session's lease for ``ttl_s`` seconds; None while another holder's
        lease is live.

        Succeeds when no live lease exists or the live one is ``holder``'s own; either
        way it starts a new term: the epoch advances in the same transaction, so any
        earlier holder (and an earlier :class:`Lease` of this holder) is fenced.
        """
        _check_request(holder, ttl_s)
        sent = time.monotonic()
        grant = self._try_acquire(holder, ttl_s)
        if grant is None:
            return None
        return Lease(
            session_id=self.session_id,
            holder=holder,
            epoch=grant.epoch,
            ttl_s=ttl_s,
            expires_at=grant.expires_at,
            valid_until_monotonic=sent + ttl_s,
        )

    def renew(self, lease: Lease, ttl_s: float | None = None) -> Lease:
        """Extend ``lease`` by ``ttl_s`` (default: its own TTL) from now.

        Raises ``LeaseLostError`` (a ``StaleEpochError``) when another holder took the
        lease, the epoch moved on, or it expired before this renewal arrived.
        """
        ttl = lease.ttl_s if ttl_s is None else ttl_s
        _check_request(lease.holder, ttl)
        self._check_session(lease)
        sent = time.monotonic()
        grant = self._try_renew(lease, ttl)
        if grant is None:
            raise LeaseLostError(self._explain_loss(lease))
        return msgspec.structs.replace(
            lease, ttl_s=ttl, expires_at=grant.expires_at, valid_until_monotonic=sent + ttl
        )

    def release(self, lease: Lease) -> bool:
        """Expire ``lease`` now so another holder can acquire at once. Only if it is
        still ours (holder and epoch); returns whether it was. Stop sending first."""
        self._check_session(lease)
        return self._try_release(lease)

    def _check_session(self, lease: Lease) -> None:
        if lease.session_id != self.session_id:
            raise StoreError(
                f"lease of session {lease.session_id!r} used on session {self.session_id!r}"
            )

    def _explain_loss(self, lease: Lease) -> str:
        """Why a renewal failed, for the error (best effort: a read may fail too)."""
        ours = (
            f"lease of session {self.session_id!r} lost (held as {lease.holder!r}, "
            f"epoch {lease.epoch})"
        )
        try:
            info = self.read()
            store_epoch = self._store_epoch()
        except StoreError as exc:
            return f"{ours}; reading the lease failed too: {exc}"
        if info is None:
            return f"{ours}: the store has no lease row for the session"
        if info.holder != lease.holder or info.epoch != lease.epoch:
            state = "holds it" if info.live else "held it last"
            return f"{ours}: {info.holder!r} {state} at epoch {info.epoch}"
        if store_epoch != lease.epoch:
            return (
                f"{ours}: the store's epoch was advanced to {store_epoch} without the lease"
            )
        return f"{ours}: it expired before the renewal reached the store"

    def __enter__(self) -> SessionLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, session_id={self.session_id!r})"


async def acquire_when_free(
    lease_store: SessionLease,
    holder: str,
    ttl_s: float,
    *,
    poll_s: float = 0.25,
    on_wait: Callable[[LeaseInfo | None], None] | None = None,
) -> Lease:
    """Wait (a standby) until the lease can be taken, then take it.

    Tries at once, then again every ``poll_s`` seconds, sooner when the live lease is
    due to expire before that. ``on_wait`` hears who holds it after each refusal. A
    store error while waiting is passed to ``on_wait`` as None and retried; cancel the
    task to stop waiting.
    """
    while True:
        info: LeaseInfo | None = None
        try:
            lease = await asyncio.to_thread(lease_store.acquire, holder, ttl_s)
            if lease is not None:
                return lease
            info = await asyncio.to_thread(lease_store.read)
        except StoreError:
            info = None
        if on_wait is not None:
            on_wait(info)
        delay = poll_s
        if info is not None and info.live:
            delay = min(poll_s, info.remaining_s + 0.005)
        await asyncio.sleep(max(delay, 0.01))


def open_lease(url_or_path: str | Path, *, session_id: str = "default") -> SessionLease:
    """The lease of ``session_id`` in the store at ``url_or_path`` (SQLite or PostgreSQL).

    The store must exist and be migrated (schema 3 or newer: opening it writable once
    does that); otherwise ``StoreNotFoundError`` or ``StoreError``. The lease keeps its
    own connection, apart from the store's writer.
    """
    text = str(url_or_path) if isinstance(url_or_path, Path) else url_or_path
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in {"postgresql", "postgres"}:
        from tradeguard.storage.lease_postgres import PostgresLease

        return PostgresLease(text, session_id=session_id)
    if scheme in {"sqlite", ""}:
        from tradeguard.storage.lease_sqlite import SqliteLease

        return SqliteLease(url_or_path, session_id=session_id)
    raise StoreError(
        f"store URL {text!r} has no lease: leases live in SQLite or PostgreSQL stores"
    )
