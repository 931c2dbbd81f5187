"""tradeguard's one error tree.

Every error tradeguard raises derives from :class:`TradeguardError`. Foreign errors
(sqlite3, psycopg, ccxt, OSError) are translated at the adapter boundary into the most
specific class here, with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations

__all__ = [
    "AlertSendError",
    "AmbiguousOutcomeError",
    "AuthenticationError",
    "ChaosHarnessError",
    "ConfigError",
    "ConflictError",
    "CorruptRecordError",
    "CorruptSnapshotError",
    "CyclicDependencyError",
    "DomainError",
    "ExchangeError",
    "ExchangeUnavailableError",
    "InsufficientFundsError",
    "InvalidOrderError",
    "InvalidRequestError",
    "InvalidTransitionError",
    "JournalCorruptionError",
    "LeaseLostError",
    "NotFoundError",
    "OrderBlockedError",
    "OrderNotFoundError",
    "RateLimitedError",
    "RecoveryError",
    "ServiceRequestError",
    "ServiceStartingError",
    "SimulatorRejectionError",
    "SimulatorStartError",
    "SimulatorStateError",
    "StaleEpochError",
    "StoreClosedError",
    "StoreDamagedError",
    "StoreError",
    "StoreFailedError",
    "StoreNotFoundError",
    "TradeguardError",
    "TradingPausedError",
    "UnsupportedVersionError",
    "UpstreamFailedError",
]


class TradeguardError(Exception):
    """Root of every error tradeguard raises."""


# --- configuration -------------------------------------------------------------------


class ConfigError(TradeguardError):
    """A configuration file or option is invalid; the message names the key and file."""


# --- domain (pure core) --------------------------------------------------------------


class DomainError(TradeguardError):
    """An event cannot be applied to the current state."""


class InvalidTransitionError(DomainError):
    """An order (or flag) cannot move from its current state by this event."""


class OrderBlockedError(DomainError):
    """An open manual-intervention flag blocks new orders on the symbol (or the session).

    The message names the flag(s) and the actions that resolve them.
    """


class TradingPausedError(OrderBlockedError):
    """A person paused new orders on the running service (cancels still go out).

    The message says who paused, since when, and how to resume.
    """


# --- storage -------------------------------------------------------------------------


class StoreError(TradeguardError):
    """A storage backend failed."""


class StoreNotFoundError(StoreError):
    """No store exists at the given location (and creating one was not asked for)."""


class StoreClosedError(StoreError):
    """The store was closed; no more reads or writes."""


class StoreDamagedError(StoreError):
    """The store's files show that opening them would lose or overwrite committed data:
    a damaged write-ahead log whose later commits SQLite would silently drop, a journal
    behind its durable high-water mark, or tables hidden by damage. Nothing was changed;
    a writable open first copies the files into ``forensics_dir``. ``recover
    --accept-loss`` proceeds with what is readable, on purpose.
    """

    def __init__(self, message: str, *, forensics_dir: str | None = None) -> None:
        super().__init__(message)
        self.forensics_dir = forensics_dir


class StoreFailedError(StoreError):
    """A write failed with an unknown outcome (e.g. fsync failed).

    The commit may or may not be on disk. The store refuses every later write until it
    is reopened, and recovery settles what is there. The failed commit is never retried.
    """


class StaleEpochError(StoreError):
    """The writer's epoch (fencing token) is older than the store's: another writer holds
    the lease. Nothing was written."""


class LeaseLostError(StaleEpochError):
    """The session's lease is no longer this holder's: another holder took it (the
    epoch moved on), the store's epoch was advanced without it, or it expired before
    it was renewed. The holder must stop sending at once and stop writing; it may
    only try to acquire the lease again (a new term, a new epoch)."""


class UnsupportedVersionError(StoreError):
    """A record or snapshot has a schema version this build cannot read or upcast."""


class CorruptRecordError(StoreError):
    """A journal record fails its checksum or breaks the sequence."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class CorruptSnapshotError(StoreError):
    """A snapshot fails its checksum or cannot be decoded."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class JournalCorruptionError(StoreError):
    """Corruption in the middle of the journal: valid records follow invalid ones.

    Recovery stops here unless the user accepts losing what follows the damage.
    """

    def __init__(self, message: str, *, corrupt_seqs: list[int]) -> None:
        super().__init__(message)
        self.corrupt_seqs = corrupt_seqs


# --- recovery ------------------------------------------------------------------------


class RecoveryError(TradeguardError):
    """Recovery could not restore a consistent state."""


class CyclicDependencyError(RecoveryError):
    """Component recovery steps depend on each other in a cycle."""


# --- exchange ------------------------------------------------------------------------


class ExchangeError(TradeguardError):
    """The exchange (or the way to it) failed."""


class AmbiguousOutcomeError(ExchangeError):
    """The request may or may not have taken effect (timeout, dropped connection, 5xx,
    a submit answered without an order id). The order becomes UNKNOWN, never REJECTED."""


class ExchangeUnavailableError(ExchangeError):
    """The exchange cannot be reached or is in maintenance; nothing was done."""


class RateLimitedError(ExchangeError):
    """The exchange refused the request because of rate limits."""


class AuthenticationError(ExchangeError):
    """API key, secret or signature rejected."""


class InvalidOrderError(ExchangeError):
    """The exchange rejected the order (filters, duplicate client id, bad parameters)."""


class InsufficientFundsError(InvalidOrderError):
    """The exchange rejected the order for lack of balance or margin."""


class OrderNotFoundError(ExchangeError):
    """The exchange has no such order."""


# --- alerts --------------------------------------------------------------------------


class AlertSendError(TradeguardError):
    """One attempt to deliver an alert to one channel failed. Raised by alert senders
    (apprise's, or a custom one) and never into the session; the message is masked
    (it never contains the channel's URL)."""


# --- simulator -----------------------------------------------------------------------


class SimulatorRejectionError(TradeguardError):
    """The built-in exchange simulator refuses a request, as Binance would.

    Carries Binance's numeric error ``code`` and the HTTP ``http_status`` the simulator
    answers with; the message is Binance's ``msg`` text.
    """

    def __init__(self, code: int, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class SimulatorStartError(TradeguardError):
    """The simulator cannot start serving (e.g. its host:port is taken); names the address."""


class SimulatorStateError(TradeguardError):
    """The simulator's state file cannot be read or written; the message names the file.

    A corrupt or incompatible file is never silently replaced by a fresh exchange: that
    would make every order the journal knows "vanish".
    """


class ChaosHarnessError(TradeguardError):
    """The crash-torture harness could not do its job (a process did not start, a
    checkpoint never came): the run proves nothing, which is not the same as passing."""


# --- the service's HTTP API ------------------------------------------------------------


class ServiceRequestError(TradeguardError):
    """A request to the running service (its HTTP API) that cannot be carried out.

    ``http_status`` is what the API answers with; the message names what is wrong
    (the id, the field, the value).
    """

    http_status = 400


class InvalidRequestError(ServiceRequestError):
    """A request's parameters or body are malformed or not allowed (HTTP 400)."""

    http_status = 400


class NotFoundError(ServiceRequestError):
    """The thing asked for by id (a flag, an order) does not exist (HTTP 404)."""

    http_status = 404


class ConflictError(ServiceRequestError):
    """The request does not fit the current state, e.g. the flag is already resolved
    (HTTP 409)."""

    http_status = 409


class UpstreamFailedError(ServiceRequestError):
    """The service carried the request to the exchange, which failed or did not answer
    (HTTP 502); nothing was resolved beyond what the message says."""

    http_status = 502


class ServiceStartingError(ServiceRequestError):
    """The service is still starting (recovering): the session is not open yet
    (HTTP 503)."""

    http_status = 503
