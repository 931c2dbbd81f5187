"""In-memory store (``memory://`` or ``memory://NAME``): the full contract, no durability.

Fast tests use it. It runs the same group-commit writer as the SQL backends; its
"transaction" is a lock plus an undo log, so savepoints and rollbacks behave like the
real ones. ``memory://NAME`` stores live in a process-wide registry so that reopening
the same name sees the same data (like reopening a file); ``memory://`` is always new.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tradeguard.errors import StoreError
from tradeguard.storage.migrations import LATEST_VERSION
from tradeguard.storage.records import (
    GENESIS_CRC,
    QuarantinedRecord,
    RunInfo,
    SnapshotInfo,
    SnapshotRecord,
    StoredRecord,
)
from tradeguard.storage.writerstore import WriterStore, replace_run

__all__ = ["MemoryStore", "forget_memory_store"]

_READ_CHUNK = 1000


class _SessionData:
    """One session's rows; ``lock`` is held for a whole write transaction."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.journal: list[StoredRecord] = []
        self.snapshots: dict[int, SnapshotRecord] = {}
        self.quarantine: list[QuarantinedRecord] = []
        self.runs: list[RunInfo] = []
        self.epoch = 0


_registry: dict[tuple[str, str], _SessionData] = {}
_registry_lock = threading.Lock()


def forget_memory_store(name: str) -> None:
    """Drop every session of ``memory://NAME`` from the registry (tests)."""
    with _registry_lock:
        for key in [k for k in _registry if k[0] == name]:
            del _registry[key]


def _seq_key(rec: StoredRecord) -> int:
    return rec.seq


class _MemoryTx:
    """``WriteTx`` over ``_SessionData``: the lock is the transaction, undo the log."""

    def __init__(self, data: _SessionData) -> None:
        self._d = data
        self._undo: list[Callable[[], None]] = []
        self._marks: list[int] = []
        self._open = False

    def begin(self) -> int:
        self._d.lock.acquire()
        self._open = True
        self._undo.clear()
        self._marks.clear()
        return self._d.epoch

    def savepoint(self) -> None:
        self._marks.append(len(self._undo))

    def release(self) -> None:
        self._marks.pop()

    def rollback_to(self) -> None:
        self._unwind(self._marks.pop())

    def commit(self) -> None:
        self._undo.clear()
        self._end()

    def rollback(self) -> None:
        self._unwind(0)
        self._end()

    def _unwind(self, mark: int) -> None:
        while len(self._undo) > mark:
            self._undo.pop()()

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._d.lock.release()

    def is_io_error(self, exc: BaseException) -> bool:
        return False

    def translate(self, exc: BaseException, what: str) -> StoreError:
        err = StoreError(f"{what} failed: {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err

    def close(self) -> None:
        self._end()

    def insert_records(self, rows: Sequence[StoredRecord]) -> None:
        journal = self._d.journal
        prev = journal[-1].seq if journal else 0
        for row in rows:
            if not isinstance(row.payload, bytes | bytearray):
                raise TypeError(f"payload of seq {row.seq} is not bytes")
            if row.seq <= prev:
                # The primary key of the SQL backends, in memory.
                raise StoreError(f"seq {row.seq} already exists (another writer?)")
            prev = row.seq
        n = len(journal)
        journal.extend(rows)
        self._undo.append(lambda: journal.__delitem__(slice(n, None)))

    def _index(self, seq: int) -> int:
        return bisect.bisect_left(self._d.journal, seq, key=_seq_key)

    def records_from(self, seq: int) -> list[StoredRecord]:
        return self._d.journal[self._index(seq) :]

    def delete_records_from(self, seq: int) -> None:
        journal = self._d.journal
        i = self._index(seq)
        removed = journal[i:]
        del journal[i:]
        self._undo.append(lambda: journal.extend(removed))

    def record_before(self, seq: int) -> StoredRecord | None:
        i = self._index(seq)
        return self._d.journal[i - 1] if i > 0 else None

    def set_epoch(self, epoch: int) -> None:
        old = self._d.epoch
        self._d.epoch = epoch

        def undo() -> None:
            self._d.epoch = old

        self._undo.append(undo)

    def upsert_snapshot(self, snap: SnapshotRecord) -> None:
        snaps = self._d.snapshots
        old = snaps.get(snap.seq)
        snaps[snap.seq] = snap

        def undo() -> None:
            if old is None:
                del snaps[snap.seq]
            else:
                snaps[snap.seq] = old

        self._undo.append(undo)

    def prune_snapshots(self, keep: int) -> None:
        snaps = self._d.snapshots
        removed = {seq: snaps.pop(seq) for seq in sorted(snaps)[:-keep]}
        self._undo.append(lambda: snaps.update(removed))

    def insert_quarantined(self, items: Sequence[QuarantinedRecord]) -> None:
        q = self._d.quarantine
        n = len(q)
        q.extend(items)
        self._undo.append(lambda: q.__delitem__(slice(n, None)))

    def last_run(self) -> RunInfo | None:
        return self._d.runs[-1] if self._d.runs else None

    def insert_run(self, run: RunInfo) -> None:
        runs = self._d.runs
        runs.append(run)
        self._undo.append(lambda: runs.__delitem__(-1))

    def close_run(self, run_id: str, stopped_ns: int) -> bool:
        runs = self._d.runs
        for i in range(len(runs) - 1, -1, -1):
            if runs[i].run_id == run_id:
                old = runs[i]
                runs[i] = replace_run(old, stopped_ns=stopped_ns)

                def undo(i: int = i, old: RunInfo = old) -> None:
                    runs[i] = old

                self._undo.append(undo)
                return True
        return False

    def is_empty(self) -> bool:
        d = self._d
        return not (d.journal or d.snapshots or d.quarantine or d.runs)


class MemoryStore(WriterStore):
    """The store contract in memory; ``name`` shares data between opens in a process."""

    def __init__(self, name: str = "", *, session_id: str = "default") -> None:
        self.session_id = session_id
        self.url = f"memory://{name}"
        if name:
            with _registry_lock:
                self._d = _registry.setdefault((name, session_id), _SessionData())
        else:
            self._d = _SessionData()
        with self._d.lock:
            last = self._d.journal[-1] if self._d.journal else None
        self._start_writer(
            _MemoryTx(self._d),
            next_seq=1 if last is None else last.seq + 1,
            last_crc=GENESIS_CRC if last is None else last.crc,
        )

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[StoredRecord]:
        """Journal records after ``after_seq``, copied out in chunks under the lock."""
        self._check_open()
        left = limit
        journal = self._d.journal
        while left is None or left > 0:
            size = _READ_CHUNK if left is None else min(left, _READ_CHUNK)
            with self._d.lock:
                i = bisect.bisect_right(journal, after_seq, key=_seq_key)
                chunk = journal[i : i + size]
            if not chunk:
                return
            yield from chunk
            after_seq = chunk[-1].seq
            if left is not None:
                left -= len(chunk)

    def last_seq(self) -> int:
        """Highest stored seq (0 when empty)."""
        rec = self.last_record()
        return 0 if rec is None else rec.seq

    def last_record(self) -> StoredRecord | None:
        """The newest journal record."""
        self._check_open()
        with self._d.lock:
            return self._d.journal[-1] if self._d.journal else None

    def quarantined(self) -> list[QuarantinedRecord]:
        """Everything quarantined, oldest first."""
        self._check_open()
        with self._d.lock:
            return list(self._d.quarantine)

    def current_epoch(self) -> int:
        """The epoch appends must carry."""
        self._check_open()
        with self._d.lock:
            return self._d.epoch

    def snapshots(self) -> list[SnapshotInfo]:
        """Snapshot metadata, newest first."""
        self._check_open()
        with self._d.lock:
            snaps = sorted(self._d.snapshots.values(), key=lambda s: s.seq, reverse=True)
        return [SnapshotInfo(s.seq, s.version, s.ts_ns, len(s.payload)) for s in snaps]

    def load_snapshot(self, seq: int) -> SnapshotRecord:
        """The snapshot at ``seq``."""
        self._check_open()
        with self._d.lock:
            snap = self._d.snapshots.get(seq)
        if snap is None:
            raise StoreError(f"no snapshot at seq {seq} in {self.url}")
        return snap

    def last_run(self) -> RunInfo | None:
        """The newest run marker."""
        self._check_open()
        with self._d.lock:
            return self._d.runs[-1] if self._d.runs else None

    def runs(self) -> list[RunInfo]:
        """All run markers, oldest first."""
        self._check_open()
        with self._d.lock:
            return list(self._d.runs)

    def schema_version(self) -> int:
        """Memory stores are always at the newest schema."""
        return LATEST_VERSION

    def backup(self, dest: Path) -> Path:
        """Export the session into a SQLite file under ``dest`` (restorable anywhere)."""
        from tradeguard.storage.sqlite import export_to_sqlite

        return export_to_sqlite(self, dest)
