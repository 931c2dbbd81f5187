"""The simulator's engine state in a file, so a restarted simulator is the same exchange.

A real exchange keeps running while a bot restarts; the demo's in-process simulator does
not. Without this file a restart would bring up a fresh exchange on which every order
the journal knows as open has "vanished". With it, the simulator saves its whole engine
state (balances, orders, trades, positions, prices, random-walk generators, id counters,
clock skew) atomically after every change and before it answers, and loads it at start.

File format: one JSON document (msgspec), ``{"format": "tradeguard-sim-state",
"version": 1, "crc32": N, "state": {...}}`` where ``crc32`` covers the exact bytes of
``state``. A file that fails to parse, fails its checksum, has another version or names
markets this build does not have is an error naming the file, never silently replaced.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from decimal import Decimal
from pathlib import Path

import msgspec

from tradeguard.errors import SimulatorStateError
from tradeguard.sim.accounts import Position, SimOrder, SimTrade
from tradeguard.sim.config import SimulatorConfig
from tradeguard.sim.engine import Engine

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "EngineState",
    "FuturesWalletState",
    "RandomWalkState",
    "SpotWalletState",
    "StateFile",
    "capture_state",
    "decode_state",
    "encode_state",
    "read_state_file",
    "restore_engine",
    "write_state_file",
]

STATE_FORMAT = "tradeguard-sim-state"
STATE_VERSION = 1


class RandomWalkState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One market's ``random.Random.getstate()``: the walk continues where it stopped."""

    version: int
    internal: tuple[int, ...]
    # A float by nature (Python's cached second Gaussian); it drives prices, not money.
    gauss_next: float | None


class SpotWalletState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Free and locked balance per asset of the spot wallet."""

    free: dict[str, Decimal]
    locked: dict[str, Decimal]
    update_ms: int


class FuturesWalletState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The USD-M wallet, its order margin and its positions."""

    wallet: dict[str, Decimal]
    order_margin: Decimal
    default_leverage: int
    update_ms: int
    positions: list[Position]


class EngineState(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything a restarted simulator needs to be the same exchange.

    Built by :func:`capture_state`; it may share order and position objects with the
    live engine, so encode it at once (:func:`encode_state`) rather than keep it.
    """

    saved_at_ms: int
    clock_skew_ms: int
    seed: int
    prices: dict[str, Decimal]
    random_walks: dict[str, RandomWalkState]
    next_order_id: dict[str, int]
    next_trade_id: dict[str, int]
    spot: SpotWalletState
    futures: FuturesWalletState
    # Ascending by (venue, order id); every open order and the recent closed ones.
    orders: list[SimOrder]
    # Ascending by trade id within each market; the most recent ones.
    trades: list[SimTrade]


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    crc32: int
    state: msgspec.Raw


def _recent_orders(engine: Engine, keep_closed: int) -> list[SimOrder]:
    kept: list[SimOrder] = []
    for venue in sorted(engine.orders):
        orders = sorted(engine.orders[venue].values(), key=lambda o: o.order_id)
        closed = [o.order_id for o in orders if not o.is_open]
        # Open orders are always kept: forgetting one is exactly the bug this prevents.
        dropped = set(closed[:-keep_closed] if keep_closed > 0 else closed)
        kept.extend(o for o in orders if o.order_id not in dropped)
    return kept


def capture_state(
    engine: Engine,
    *,
    clock_skew_ms: int,
    now_ms: int,
    keep_closed_orders: int | None = None,
    keep_trades: int | None = None,
) -> EngineState:
    """The engine's state as a struct, with the history cut to the configured length."""
    cfg = engine.config
    keep_closed = cfg.state_keep_closed_orders if keep_closed_orders is None else keep_closed_orders
    keep_tr = cfg.state_keep_trades if keep_trades is None else keep_trades
    walks = {}
    for key, raw in engine.random_states().items():
        version, internal, gauss_next = raw
        walks[key] = RandomWalkState(
            version=int(version),  # type: ignore[call-overload]
            internal=tuple(internal),  # type: ignore[arg-type]
            gauss_next=gauss_next,  # type: ignore[arg-type]
        )
    trades: list[SimTrade] = []
    for key in sorted(engine.trades):
        rows = engine.trades[key]
        trades.extend(rows[-keep_tr:] if keep_tr > 0 else [])
    spot, futures = engine.spot, engine.futures
    return EngineState(
        saved_at_ms=now_ms,
        clock_skew_ms=clock_skew_ms,
        seed=cfg.seed,
        prices=dict(engine.prices),
        random_walks=walks,
        next_order_id=dict(engine.next_order_id),
        next_trade_id=dict(engine.next_trade_id),
        spot=SpotWalletState(
            free=dict(spot.free), locked=dict(spot.locked), update_ms=spot.update_ms
        ),
        futures=FuturesWalletState(
            wallet=dict(futures.wallet),
            order_margin=futures.order_margin,
            default_leverage=futures.default_leverage,
            update_ms=futures.update_ms,
            positions=list(futures.positions.values()),
        ),
        orders=_recent_orders(engine, keep_closed),
        trades=trades,
    )


def restore_engine(config: SimulatorConfig, state: EngineState, source: str = "state") -> Engine:
    """A new engine for ``config`` that continues from ``state``.

    Raises :class:`SimulatorStateError` (naming ``source``) when the state does not fit
    this build's markets or venues.
    """
    engine = Engine(config)
    known = set(engine.markets)
    for what, keys in (
        ("prices", state.prices), ("random walks", state.random_walks),
        ("orders", {f"{o.venue}:{o.symbol}" for o in state.orders}),
        ("trades", {f"{t.venue}:{t.symbol}" for t in state.trades}),
    ):
        unknown = sorted(set(keys) - known)
        if unknown:
            raise SimulatorStateError(
                f"simulator state {source}: {what} name markets this simulator does not "
                f"have: {', '.join(unknown)}"
            )
    venues = set(engine.next_order_id)
    if set(state.next_order_id) != venues or set(state.next_trade_id) != venues:
        raise SimulatorStateError(f"simulator state {source}: id counters must cover {venues}")
    engine.prices.update(state.prices)
    engine.set_random_states({
        key: (walk.version, walk.internal, walk.gauss_next)
        for key, walk in state.random_walks.items()
    })
    engine.next_order_id = dict(state.next_order_id)
    engine.next_trade_id = dict(state.next_trade_id)
    engine.spot.free = dict(state.spot.free)
    engine.spot.locked = dict(state.spot.locked)
    engine.spot.update_ms = state.spot.update_ms
    fut = engine.futures
    fut.wallet = dict(state.futures.wallet)
    fut.order_margin = state.futures.order_margin
    fut.default_leverage = state.futures.default_leverage
    fut.update_ms = state.futures.update_ms
    fut.positions = {p.symbol: p for p in state.futures.positions}
    engine.load_orders(sorted(state.orders, key=lambda o: (o.venue, o.order_id)))
    for trade in state.trades:
        engine.trades[f"{trade.venue}:{trade.symbol}"].append(trade)
    return engine


_state_encoder = msgspec.json.Encoder()
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_state_decoder = msgspec.json.Decoder(EngineState)


def encode_state(state: EngineState) -> bytes:
    """The state file's bytes: a versioned envelope with a CRC32 over the state."""
    body = _state_encoder.encode(state)
    return _state_encoder.encode(
        _Envelope(STATE_FORMAT, STATE_VERSION, zlib.crc32(body), msgspec.Raw(body))
    )


def decode_state(data: bytes, source: str = "state") -> EngineState:
    """Parse and check a state file's bytes; :class:`SimulatorStateError` names ``source``."""
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SimulatorStateError(
            f"simulator state file {source} is corrupt (not a state document: {exc}); "
            "move it away to start a fresh simulator"
        ) from exc
    if envelope.format != STATE_FORMAT:
        raise SimulatorStateError(
            f"simulator state file {source} is not a simulator state (format "
            f"{envelope.format!r})"
        )
    if envelope.version != STATE_VERSION:
        raise SimulatorStateError(
            f"simulator state file {source} has version {envelope.version}; this build "
            f"reads version {STATE_VERSION}"
        )
    body = bytes(envelope.state)
    if zlib.crc32(body) != envelope.crc32:
        raise SimulatorStateError(
            f"simulator state file {source} is corrupt (checksum mismatch); move it away "
            "to start a fresh simulator"
        )
    try:
        return _state_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise SimulatorStateError(
            f"simulator state file {source} is corrupt ({exc})"
        ) from exc


def write_state_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Write a temporary file in the same directory, fsync it, rename it over ``path``,
    then fsync the directory so the rename itself survives a power loss. A crash at any
    point leaves either the old file or the new one, never a mix.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SimulatorStateError(f"cannot save simulator state to {path}: {exc}") from exc


def read_state_file(path: Path) -> EngineState | None:
    """The state saved in ``path``, or None when there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SimulatorStateError(f"cannot read simulator state file {path}: {exc}") from exc
    return decode_state(data, str(path))


class StateFile:
    """The state file of one simulator: load at start, save after every change.

    Saves are synchronous on purpose: the change and its save happen in one step of the
    event loop, so no answer (to anyone) can reveal an order or fill that a SIGKILL
    right after would make the exchange forget.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.path = Path(config.state_path)
        self.saves = 0
        self._dirty = False
        self._last_save = 0.0

    def load(self) -> EngineState | None:
        """The saved state, None when the file does not exist yet."""
        return read_state_file(self.path)

    def save(self, engine: Engine, *, clock_skew_ms: int, now_ms: int) -> None:
        """Write the engine's whole state now (atomic, fsynced)."""
        state = capture_state(engine, clock_skew_ms=clock_skew_ms, now_ms=now_ms)
        write_state_file(self.path, encode_state(state))
        self.saves += 1
        self._dirty = False
        self._last_save = time.monotonic()

    def mark_dirty(self) -> None:
        """Something changed that may wait for the save timer (a plain price move)."""
        self._dirty = True

    @property
    def dirty(self) -> bool:
        """True when a change is not saved yet."""
        return self._dirty

    def save_due(self) -> bool:
        """True when unsaved changes are older than ``state_save_interval_ms``."""
        interval_s = self.config.state_save_interval_ms / 1000
        return self._dirty and time.monotonic() - self._last_save >= interval_s
