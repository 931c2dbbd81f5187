"""What a SQLite store's files must show before we let SQLite open them.

SQLite silently drops committed transactions when its WAL is damaged or cut short, and
would happily create fresh tables over a database whose schema page is damaged. Two
independent witnesses catch that before any connection that could write is opened:

- the WAL itself (:mod:`tradeguard.storage.walcheck`): commit frames of the current
  generation past the first bad frame;
- the **high-water mark**: a small side file per session (``tradeguard.db-hwm-SESSION``)
  holding the last acknowledged journal seq and epoch, fsynced after each group commit
  and before its callers are answered. A truncated WAL leaves no frames to find, but
  leaves the journal behind its mark.

Stray commit frames are tolerated when every mark is met (they are the torn,
unacknowledged last transaction of a power loss, or its leftovers); without a mark
they are refused. On refusal the files are copied (never moved) into
``forensics/<time>/`` inside the data directory, and :class:`StoreDamagedError` says
what would be lost; ``accept_loss`` goes on deliberately with what SQLite can read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tradeguard.errors import StoreDamagedError, StoreError
from tradeguard.storage.walcheck import WalScan, scan_wal

__all__ = [
    "DbView",
    "Mark",
    "MarkWriter",
    "StoreGuard",
    "keep_for_forensics",
    "mark_path",
    "read_mark",
    "read_view",
]

MARK_INFIX = "-hwm-"
_SLOT = struct.Struct("<4sQQQI")  # magic, generation, seq, epoch, crc32 of the rest
_MAGIC = b"TGHW"
_SAFE_SESSION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DB_NAME = "tradeguard.db"
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")


@dataclass(frozen=True)
class Mark:
    """A session's high-water mark: nothing below it may be missing."""

    seq: int
    epoch: int
    generation: int


def mark_path(db: Path, session_id: str) -> Path:
    """The high-water mark file of ``session_id`` beside ``db``."""
    tag = session_id
    if not _SAFE_SESSION.fullmatch(session_id):
        tag = "h" + hashlib.sha256(session_id.encode()).hexdigest()[:16]
    return db.with_name(f"{db.name}{MARK_INFIX}{tag}")


def read_mark(path: Path) -> Mark | None:
    """The newest valid slot of a mark file; None when the file is absent or empty.

    Two slots are written in turn, so a torn write leaves the other (older, lower: the
    safe side) readable. Raises ``StoreDamagedError`` when neither slot is valid.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the high-water mark {path}: {exc}") from exc
    if not data:
        return None
    best: Mark | None = None
    for off in range(0, min(len(data), 2 * _SLOT.size) - _SLOT.size + 1, _SLOT.size):
        magic, gen, seq, epoch, crc = _SLOT.unpack_from(data, off)
        if magic != _MAGIC or crc != zlib.crc32(data[off : off + _SLOT.size - 4]):
            continue
        if best is None or gen > best.generation:
            best = Mark(seq, epoch, gen)
    if best is None:
        raise StoreDamagedError(
            f"the high-water mark {path} is damaged (no valid slot): the last acknowledged "
            "seq is unknown"
        )
    return best


class MarkWriter:
    """Writes one session's mark file: pwrite of one slot, then fdatasync."""

    def __init__(self, path: Path, start: Mark | None) -> None:
        self.path = path
        self._generation = 0 if start is None else start.generation
        created = not path.exists()
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the high-water mark {path}: {exc}") from exc
        if created:
            _fsync_dir(path.parent)

    def write(self, seq: int, epoch: int) -> None:
        """Make ``(seq, epoch)`` the durable mark (raises OSError when the disk fails)."""
        if self._fd is None:
            raise StoreError(f"the high-water mark {self.path} is closed")
        self._generation += 1
        head = _SLOT.pack(_MAGIC, self._generation, seq, epoch, 0)[:-4]
        slot = head + struct.pack("<I", zlib.crc32(head))
        os.pwrite(self._fd, slot, (self._generation % 2) * _SLOT.size)
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class DbView:
    """What SQLite shows of a database: its objects, pages and session tips."""

    objects: int
    tables: frozenset[str]
    page_count: int
    tips: Mapping[str, tuple[int, int]]
    """session id -> (last journal seq, epoch) for the sessions asked about."""


def read_view(conn: Any, sessions: list[str]) -> DbView:
    """Read a :class:`DbView` through any sqlite3-shaped connection (reads only)."""
    rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    tables = frozenset(str(r[1]) for r in rows if r[0] == "table")
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    tips: dict[str, tuple[int, int]] = {}
    for sid in sessions:
        seq = epoch = 0
        if "journal" in tables:
            row = conn.execute("SELECT MAX(seq) FROM journal WHERE session_id = ?", (sid,))
            seq = int(row.fetchone()[0] or 0)
        if "sessions" in tables:
            row = conn.execute("SELECT epoch FROM sessions WHERE session_id = ?", (sid,))
            found = row.fetchone()
            epoch = int(found[0]) if found else 0
        tips[sid] = (seq, epoch)
    return DbView(len(rows), tables, pages, tips)


def _probe_view(db: Path, sessions: list[str]) -> DbView:
    """:func:`read_view` through a read-only connection of its own, which never
    checkpoints (a read-write connection checkpoints and deletes the WAL on close).
    Without WAL content the database file alone is read (``immutable``), so the probe
    creates no -wal or -shm beside a store it may refuse."""
    wal = db.with_name(db.name + "-wal")
    empty_wal = not wal.exists() or wal.stat().st_size == 0
    params = "mode=ro&immutable=1" if empty_wal else "mode=ro"
    conn = sqlite3.connect(f"file:{quote(str(db))}?{params}", uri=True, timeout=5.0)
    try:
        return read_view(conn, sessions)
    finally:
        conn.close()


def _identity(db: Path, names: list[str]) -> str:
    """Name, size and mtime of the files a copy is taken of (the -shm, an index SQLite
    rebuilds on every open, is left out): the same text means the same files."""
    lines = []
    for name in names:
        path = db.parent / name
        if path.is_file() and not name.endswith("-shm"):
            st = path.stat()
            lines.append(f"{name} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def keep_for_forensics(db: Path, why: str) -> Path:
    """Copy ``db``, its -wal/-shm and mark files into a new ``forensics/<time>``
    directory beside it (0700, files 0600, fsynced); return that directory.

    When the newest copy there was taken of the very same files (a command retried,
    a supervisor restarting), that copy is returned instead: refusals cannot fill the
    disk. ``WHY.txt`` collects every reason."""
    names = [db.name, f"{db.name}-wal", f"{db.name}-shm"]
    names += sorted(p.name for p in db.parent.glob(f"{db.name}{MARK_INFIX}*"))
    identity = _identity(db, names)
    root = db.parent / "forensics"
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000))
    previous = sorted(root.iterdir()) if root.is_dir() else []
    source = previous[-1] / "SOURCE.txt" if previous else None
    if source is not None and source.is_file() and source.read_text("utf-8") == identity:
        with (source.parent / "WHY.txt").open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp}Z {why}\n")
        return source.parent
    dest = root / f"{stamp}.{now % 1_000_000_000:09d}Z"
    dest.mkdir(mode=0o700, parents=True)
    root.chmod(0o700)
    for name in names:
        src = db.parent / name
        if not src.is_file():
            continue
        target = dest / name
        shutil.copyfile(src, target)
        target.chmod(0o600)
        with target.open("rb+") as fh:
            os.fsync(fh.fileno())
    (dest / "WHY.txt").write_text(f"{stamp}Z {why}\n", encoding="utf-8")
    (dest / "SOURCE.txt").write_text(identity, encoding="utf-8")
    _fsync_dir(dest)
    _fsync_dir(root)
    return dest


class StoreGuard:
    """The checks of one SQLite store open (see the module docstring), in order:
    :meth:`before_create`, :meth:`check` (with :meth:`probe` when writable), and once
    the store is open, :meth:`start_marks`."""

    def __init__(self, db: Path, session_id: str, *, readonly: bool, accept_loss: bool) -> None:
        self.db = db
        self.session_id = session_id
        self.readonly = readonly
        self.accept_loss = accept_loss
        self.accepted: str | None = None
        """What was lost, when ``accept_loss`` let a damaged store open."""
        self.forensics_dir: Path | None = None
        # Marks only for data-directory stores: a backup or export file has none.
        self.keeps_marks = db.name == _DB_NAME
        self.marks: dict[str, Mark] = {}
        self._marks_loaded = False
        self._mark_files: dict[str, Path] = {}
        self._behind: dict[str, tuple[int, int]] = {}
        self._scan: WalScan | None = None

    @property
    def wal(self) -> Path:
        """The WAL file beside the database."""
        return self.db.with_name(self.db.name + "-wal")

    def _load_marks(self) -> None:
        if self._marks_loaded or not self.keeps_marks:
            return
        self._marks_loaded = True
        own = mark_path(self.db, self.session_id)
        files = {self.session_id: own}
        for path in self.db.parent.glob(f"{self.db.name}{MARK_INFIX}*"):
            sid = path.name[len(self.db.name) + len(MARK_INFIX) :]
            if path != own and _SAFE_SESSION.fullmatch(sid):
                files[sid] = path
        self._mark_files = files
        for sid, path in files.items():
            try:
                mark = read_mark(path)
            except StoreDamagedError as exc:
                self._refuse(str(exc), can_accept=True)
                mark = None
            if mark is not None:
                self.marks[sid] = mark

    def before_create(self) -> None:
        """An absent or empty database is a new store only if nothing else is there."""
        size = self.db.stat().st_size if self.db.exists() else 0
        if size:
            return
        wal_size = self.wal.stat().st_size if self.wal.exists() else 0
        if wal_size:
            self._refuse(
                f"{self.db} is {'empty' if self.db.exists() else 'missing'} but its "
                f"write-ahead log {self.wal} holds {wal_size:,} bytes: refusing to create a "
                "new store over it; put the database back or move both away",
                can_accept=False,
            )
        self._load_marks()
        for sid, mark in self.marks.items():
            if mark.seq or mark.epoch:
                self._refuse(
                    f"{self.db} is {'empty' if self.db.exists() else 'missing'} but "
                    f"{self._mark_files[sid]} records journal seq {mark.seq} of session "
                    f"{sid!r} as acknowledged: the store was moved or deleted; put it back, "
                    "or move the -hwm file away to start a new store",
                    can_accept=True,
                )

    def probe(self) -> DbView | None:
        """Read the database through a read-only connection of our own (writable opens
        look before SQLite's read-write connection can checkpoint or write)."""
        if self.db.stat().st_size == 0 and not self.wal.exists():
            return None
        try:
            return _probe_view(self.db, self.sessions())
        except sqlite3.DatabaseError as exc:
            if any(word in str(exc).lower() for word in _DAMAGE_WORDS):
                self._refuse(
                    f"{self.db} cannot be read ({exc}): it is damaged; refusing to open or "
                    "initialise it; restore a backup",
                    can_accept=False,
                )
            raise StoreError(f"cannot open SQLite database {self.db}: {exc}") from exc

    def sessions(self) -> list[str]:
        """The sessions whose tips the checks need: this one and every one with a mark."""
        self._load_marks()
        return sorted(set(self._mark_files) | {self.session_id})

    def check(self, view: DbView | None) -> None:
        """Refuse (or, with ``accept_loss``, record) every sign of lost committed data."""
        self._load_marks()
        scan = self._scan = scan_wal(self.wal, fallback_page_size=_db_page_size(self.db))
        if view is None:
            return
        # Tables that are not ours: the store's own check refuses a foreign database.
        if not view.tables and not self._unused(view, scan):
            cause = scan.describe() if scan.drops_commits else "damage to its schema?"
            self._refuse(
                f"{self.db} holds {view.page_count} page(s) and {view.objects} schema "
                f"object(s) but no readable tradeguard tables ({cause}): refusing to create "
                "a new store over it; restore a backup",
                can_accept=False,
            )
        behind = []
        for sid, mark in sorted(self.marks.items()):
            seq, epoch = view.tips.get(sid, (0, 0))
            if seq < mark.seq or epoch < mark.epoch:
                self._behind[sid] = (seq, epoch)
                behind.append(
                    f"session {sid!r} ends at journal seq {seq} (epoch {epoch}) but seq "
                    f"{mark.seq} (epoch {mark.epoch}) was acknowledged "
                    f"({max(0, mark.seq - seq)} acknowledged record(s) missing)"
                )
        problems = list(behind)
        if scan.drops_commits and (behind or not self.marks):
            problems.insert(0, scan.describe())
        if problems:
            self._refuse(
                "committed data would be lost: " + "; ".join(problems), can_accept=True
            )

    def _unused(self, view: DbView, scan: WalScan) -> bool:
        """Only a database with nothing in it may be initialised."""
        if view.objects or view.page_count > 1:
            return False
        if self.db.stat().st_size > max(_db_page_size(self.db), 512):
            return False
        return scan.valid_commits == 0 and scan.stray_commits == 0

    def _refuse(self, what: str, *, can_accept: bool) -> None:
        if can_accept and self.accept_loss:
            self.accepted = what if self.accepted is None else f"{self.accepted}; {what}"
            if not self.readonly and self.forensics_dir is None:
                self.forensics_dir = self._keep(f"accepted with --accept-loss: {what}")
                self.accepted += f" (the files as they were are kept in {self.forensics_dir})"
            return
        if self.readonly:
            raise StoreDamagedError(
                f"{what}. Nothing was changed; `tradeguard recover` keeps a copy for "
                "forensics" + (" and `--accept-loss` goes on without it" if can_accept else "")
            )
        kept = self._keep(what)
        hint = (
            "; `tradeguard recover --accept-loss` goes on with what is readable"
            if can_accept
            else ""
        )
        raise StoreDamagedError(
            f"{what}. Nothing was changed; the files were copied to {kept}{hint}",
            forensics_dir=str(kept),
        )

    def _keep(self, why: str) -> Path:
        try:
            return keep_for_forensics(self.db, why)
        except OSError as exc:
            raise StoreDamagedError(
                f"{why}; copying the files aside for forensics failed too ({exc}): nothing "
                "was changed"
            ) from exc

    def settle(self, conn: Any) -> None:
        """After an accepted loss: fold the readable WAL into the database and empty
        it, so the damaged frames (kept in the forensics copy) cannot raise the alarm
        again. Writable opens only; a no-op when nothing was accepted."""
        if self.accepted is None or self.readonly:
            return
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if row is None or int(row[0]) != 0:
            raise StoreError(
                f"{self.db}: could not checkpoint the write-ahead log after accepting the "
                "loss (another process has the store open?)"
            )

    def start_marks(self, seq: int, epoch: int) -> MarkWriter | None:
        """The session's mark writer, its file brought up to ``(seq, epoch)`` when it is
        new or a loss was accepted; None for stores that keep no marks."""
        if not self.keeps_marks:
            return None
        if self.accepted is not None:
            self._lower_other_marks()
        path = mark_path(self.db, self.session_id)
        current = self.marks.get(self.session_id)
        writer = MarkWriter(path, current)
        try:
            if current is None or self.accepted is not None:
                writer.write(seq, epoch)
                self.marks[self.session_id] = Mark(seq, epoch, 0)
        except OSError as exc:
            writer.close()
            raise StoreError(f"cannot write the high-water mark {path}: {exc}") from exc
        return writer

    def _lower_other_marks(self) -> None:
        """An accepted loss of another session's records: its mark comes down too, or
        every later open would refuse again."""
        for sid, (seq, epoch) in self._behind.items():
            if sid == self.session_id:
                continue
            other = MarkWriter(self._mark_files[sid], self.marks.get(sid))
            try:
                other.write(seq, epoch)
            except OSError as exc:
                raise StoreError(f"cannot write the high-water mark {other.path}: {exc}") from exc
            finally:
                other.close()

    def mark_now(self) -> tuple[int, int]:
        """The session's mark as the committer should start from."""
        mark = self.marks.get(self.session_id)
        return (0, 0) if mark is None else (mark.seq, mark.epoch)


def _db_page_size(db: Path) -> int:
    with contextlib.suppress(OSError), db.open("rb") as fh:
        head = fh.read(18)
        if len(head) == 18:
            raw = int.from_bytes(head[16:18], "big")
            return 65536 if raw == 1 else raw or 4096
    return 4096
