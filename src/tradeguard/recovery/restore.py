"""Restoring a session's state: newest valid snapshot plus the journal after it.

A snapshot that fails its checksum, cannot be decoded, or claims a sequence number the
journal does not reach is skipped for the next older one (down to an empty state). The
journal after the snapshot is checked record by record; a damaged tail is quarantined
(raw bytes kept) and the journal continues from the last valid record; damage with valid
records after it stops recovery unless the caller accepts the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec

from tradeguard.domain.events import AnyEvent
from tradeguard.domain.state import SessionState
from tradeguard.errors import (
    CorruptRecordError,
    CorruptSnapshotError,
    DomainError,
    JournalCorruptionError,
    RecoveryError,
    UnsupportedVersionError,
)
from tradeguard.recovery.scan import ChainChecker, ScanSummary, record_shape_problem
from tradeguard.storage.base import Store
from tradeguard.storage.codec import EVENT_DECODERS, EVENT_VERSIONS, decode_event, decode_state
from tradeguard.storage.records import (
    GENESIS_CRC,
    SnapshotInfo,
    SnapshotRecord,
    StoredRecord,
    snapshot_crc,
)

__all__ = [
    "RestoreResult",
    "SkippedSnapshot",
    "check_snapshot",
    "load_newest_valid_snapshot",
    "restore_state",
]

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)`` during replay."""

_PROGRESS_EVERY = 10_000


class SkippedSnapshot(msgspec.Struct, frozen=True):
    """A snapshot recovery could not use, and why (``seq`` None: unreadable itself)."""

    seq: int | None
    reason: str


class RestoreResult(msgspec.Struct, frozen=True):
    """What restoring state did."""

    snapshot_seq: int | None
    skipped_snapshots: list[SkippedSnapshot]
    replayed_events: int
    last_seq: int
    quarantined_records: int
    corrupt_records: list[int]
    accepted_loss: bool


_SNAPSHOT_TYPES: tuple[tuple[str, type], ...] = (
    ("seq", int),
    ("version", int),
    ("ts_ns", int),
    ("payload", bytes),
    ("crc", int),
)


def _snapshot_shape_problem(snap: SnapshotInfo | SnapshotRecord) -> str | None:
    for name, kind in _SNAPSHOT_TYPES:
        if not hasattr(snap, name):
            continue  # SnapshotInfo has no payload or crc
        value = getattr(snap, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"column {name} reads back as {type(value).__name__} {value!r:.40}"
    return None


def check_snapshot(store: Store, info: SnapshotInfo, *, journal_last_seq: int) -> SessionState:
    """The state held by snapshot ``info``, or ``CorruptSnapshotError`` saying why it
    cannot be used. ``verify`` reports what this finds; recovery skips such a snapshot
    for the next older one: one rule for both.

    A snapshot is usable when its row reads back with the right types, its seq lies
    within the journal and names an intact journal record (the replay anchors on that
    record's crc), its checksum matches and its state decodes to that same seq.
    """
    problem = _snapshot_shape_problem(info)
    if problem is not None:
        raise CorruptSnapshotError(f"snapshot row damaged: {problem}", seq=None)
    seq = info.seq
    if seq < 1 or seq > journal_last_seq:
        raise CorruptSnapshotError(f"seq {seq} beyond journal end {journal_last_seq}", seq=seq)
    snap = store.load_snapshot(seq)
    problem = _snapshot_shape_problem(snap)
    if problem is not None:
        raise CorruptSnapshotError(f"snapshot at seq {seq}: row damaged: {problem}", seq=seq)
    expected = snapshot_crc(seq=snap.seq, version=snap.version, ts_ns=snap.ts_ns,
                            payload=snap.payload)
    if expected != snap.crc:
        raise CorruptSnapshotError(f"snapshot at seq {seq}: checksum mismatch", seq=seq)
    state = decode_state(snap.version, snap.payload)
    if state.last_seq != seq:
        raise CorruptSnapshotError(f"state inside claims seq {state.last_seq}", seq=seq)
    anchor = next(iter(store.read(after_seq=seq - 1, limit=1)), None)
    if anchor is None or anchor.seq != seq:
        raise CorruptSnapshotError(f"no journal record {seq} to anchor the replay on", seq=seq)
    problem = record_shape_problem(anchor)
    if problem is not None:
        raise CorruptSnapshotError(f"its anchor, journal record {seq}, is damaged: {problem}",
                                   seq=seq)
    return state


def load_newest_valid_snapshot(
    store: Store, *, journal_last_seq: int
) -> tuple[SessionState | None, int | None, list[SkippedSnapshot]]:
    """The newest snapshot that ``check_snapshot`` accepts, its seq, and those skipped."""
    skipped: list[SkippedSnapshot] = []
    for info in store.snapshots():
        try:
            state = check_snapshot(store, info, journal_last_seq=journal_last_seq)
        except (CorruptSnapshotError, UnsupportedVersionError) as exc:
            skipped.append(SkippedSnapshot(_seq_or_none(info.seq), str(exc)))
            continue
        return state, info.seq, skipped
    return None, None, skipped


def _seq_or_none(seq: object) -> int | None:
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def restore_state(
    store: Store,
    *,
    accept_loss: bool = False,
    write: bool = True,
    progress: ProgressFn | None = None,
) -> tuple[SessionState, RestoreResult]:
    """Rebuild the session state from ``store``.

    With ``write`` False nothing is changed (damage is reported, not quarantined).
    Raises ``JournalCorruptionError`` for damage in the middle of the journal (unless
    ``accept_loss``), ``RecoveryError`` for a valid record that cannot be applied.
    """
    journal_last = store.last_seq()
    state, snap_seq, skipped = load_newest_valid_snapshot(store, journal_last_seq=journal_last)
    prev_crc = GENESIS_CRC
    if state is None:
        state = SessionState()
    else:
        # check_snapshot proved the anchor record is there and readable.
        anchor = next(iter(store.read(after_seq=snap_seq - 1, limit=1)), None) if snap_seq else None
        prev_crc = anchor.crc if anchor is not None else GENESIS_CRC
    start = snap_seq or 0
    checker = ChainChecker(after_seq=start, prev_crc=prev_crc)
    total = max(journal_last - start, 0)
    replay = _Replay(checker.check_all(store.read(after_seq=start)), progress, start, total)
    try:
        state.apply_all(replay.events())
    except DomainError as exc:
        record = replay.current
        raise RecoveryError(
            f"journal record {record.seq if record else '?'} "
            f"({record.type if record else '?'}) cannot be applied: {exc}"
        ) from exc
    replayed = state.last_seq - start
    summary = checker.summary()
    quarantined = _settle_damage(store, summary, accept_loss=accept_loss, write=write)
    if progress is not None:
        progress(replayed, replayed)
    return state, RestoreResult(
        snapshot_seq=snap_seq,
        skipped_snapshots=skipped,
        replayed_events=replayed,
        last_seq=state.last_seq,
        quarantined_records=quarantined,
        corrupt_records=sorted({*summary.corrupt, *summary.missing}),
        accepted_loss=accept_loss and summary.first_bad is not None and not summary.tail_only,
    )


class _Replay:
    """Decodes chain-checked records into ``(seq, event)`` for ``SessionState.apply_all``.

    One loop with local variables (the replay hot path); ``current`` is the record
    whose event was handed out last, so a refused event can be named.
    """

    def __init__(
        self, records: Iterator[StoredRecord], progress: ProgressFn | None, start: int, total: int
    ) -> None:
        self._records = records
        self._progress = progress
        self._start = start
        self._total = total
        self.current: StoredRecord | None = None

    def events(self) -> Iterator[tuple[int, AnyEvent]]:
        decoders = dict(EVENT_DECODERS)  # plain dicts: faster lookups than the proxies
        versions = dict(EVENT_VERSIONS)
        progress = self._progress
        next_report = self._start + _PROGRESS_EVERY if progress is not None else -1
        try:
            for record in self._records:
                self.current = record
                rtype = record.type
                seq = record.seq
                decoder = decoders.get(rtype)
                try:
                    if decoder is not None and versions[rtype] == record.version:
                        event = decoder.decode(record.payload)
                    else:
                        event = decode_event(rtype, record.version, record.payload)
                except msgspec.DecodeError as exc:
                    raise self._undecodable(record, exc) from exc
                except CorruptRecordError as exc:
                    raise self._undecodable(record, exc) from exc
                except UnsupportedVersionError as exc:
                    raise RecoveryError(
                        f"journal record {seq} ({rtype} v{record.version}) cannot be read by "
                        f"this version of tradeguard: {exc}"
                    ) from exc
                yield seq, event
                if seq == next_report and progress is not None:
                    progress(seq - self._start, self._total)
                    next_report += _PROGRESS_EVERY
        finally:
            close = getattr(self._records, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _undecodable(record: StoredRecord, exc: Exception) -> RecoveryError:
        return RecoveryError(
            f"journal record {record.seq} ({record.type}) passes its checksum but "
            f"cannot be decoded: {exc}"
        )


def _settle_damage(store: Store, summary: ScanSummary, *, accept_loss: bool, write: bool) -> int:
    if summary.first_bad is None:
        return 0
    bad = sorted({*summary.corrupt, *summary.missing})
    if not summary.tail_only and not accept_loss:
        raise JournalCorruptionError(
            f"journal damaged in the middle: record(s) {_seq_list(bad)} fail their "
            f"checksum or are missing, and valid records follow up to seq "
            f"{summary.last_seq}. Nothing was changed. Restore a backup, or run recovery "
            f"with --accept-loss to quarantine records from seq {summary.first_bad} on.",
            corrupt_seqs=bad,
        )
    if not write:
        return 0
    reason = (
        "damaged tail (torn or corrupt record)"
        if summary.tail_only
        else f"accepted loss after damage at seq {summary.first_bad}"
    )
    return store.quarantine_from(summary.first_bad, reason)


def _seq_list(seqs: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(s) for s in seqs[:limit])
    return shown + (f" and {len(seqs) - limit} more" if len(seqs) > limit else "")
