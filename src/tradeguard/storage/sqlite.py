"""SQLite store: one file ``tradeguard.db`` in a data directory, WAL mode, fsync on commit.

Every connection comes from the ``connect`` factory (default: stdlib ``sqlite3`` in
autocommit mode), and only ``execute``/``executemany``/``close`` are used on it, so a
test can substitute apsw connections over a power-loss VFS. Transactions are explicit
statements. Writes go through the group committer (in the caller's thread when it is
idle, else its writer thread) on one write connection; reads use one connection per
reading thread, which WAL lets run beside the writer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tradeguard.errors import StoreError, StoreNotFoundError, UnsupportedVersionError
from tradeguard.logs import get_logger
from tradeguard.private_dirs import make_private_dir
from tradeguard.storage.base import Store
from tradeguard.storage.migrations import (
    LATEST_VERSION,
    STORE_FORMAT,
    apply_migrations,
    current_version,
)
from tradeguard.storage.partial import writing_partial
from tradeguard.storage.records import GENESIS_CRC
from tradeguard.storage.sqlstore import SqlFlavor, SqlStore, SqlWriteTx
from tradeguard.storage.storeguard import StoreGuard, read_view
from tradeguard.storage.url import DB_NAME, sqlite_files, store_url_for_dir

__all__ = [
    "DB_NAME",
    "SqliteStore",
    "backup_file_name",
    "copy_sqlite_file",
    "export_to_sqlite",
    "sessions_in",
]

_log = get_logger("tradeguard.storage.sqlite")
_HEADER = b"SQLite format 3\x00"
_SYNC_LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}
# Primary result codes that leave a write's outcome unknown.
_IO_CODES = frozenset({10, 11, 13, 14, 26})  # IOERR, CORRUPT, FULL, CANTOPEN, NOTADB
_IO_MESSAGES = ("disk i/o error", "disk is full", "ioerr", "malformed", "unable to open")


def _default_connect(path: str) -> sqlite3.Connection:
    # Autocommit: transactions are our explicit BEGIN IMMEDIATE / COMMIT statements.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


class _SqliteFlavor(SqlFlavor):
    dialect = "sqlite"
    # IMMEDIATE takes the write lock at once, so the epoch read is already fenced.
    begin_sql = "BEGIN IMMEDIATE"
    lock_suffix = ""

    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        conn.executemany(statement, rows)

    def is_io_error(self, exc: BaseException) -> bool:
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _IO_CODES:
            return True
        if not isinstance(exc, sqlite3.Error) and type(exc).__module__ != "apsw":
            return False
        text = str(exc).lower()
        return any(m in text for m in _IO_MESSAGES) or type(exc).__name__ in {
            "IOError",
            "FullError",
            "CorruptError",
        }

    def translate(self, exc: BaseException, what: str) -> StoreError:
        if isinstance(exc, sqlite3.IntegrityError):
            err = StoreError(
                f"{what} failed: {exc} (a row with this key exists: did another writer "
                "append to this session with the same epoch?)"
            )
        else:
            err = StoreError(f"{what} failed: {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err


_FLAVOR = _SqliteFlavor()


def _readonly_uri(db: Path) -> str:
    """A URI that opens ``db`` without changing any file, even on a read-only mount.

    With no WAL content, ``immutable`` reads the db file alone and creates no -wal or
    -shm (SQLite cannot open a WAL-mode file read-only on a read-only mount otherwise).
    ``immutable`` ignores the WAL, so with WAL content it is never used: ``mode=ro`` reads
    the WAL, through the existing -shm opened read-only (``readonly_shm``) when there is
    one; without one SQLite must create it (impossible on a read-only mount).
    """
    wal = db.with_name(db.name + "-wal")
    shm = db.with_name(db.name + "-shm")
    try:
        wal_bytes = wal.stat().st_size
    except FileNotFoundError:
        wal_bytes = 0
    if wal_bytes == 0:
        params = "mode=ro&immutable=1"
    elif shm.exists():
        params = "mode=ro&readonly_shm=1"
    else:
        params = "mode=ro"
    return f"file:{quote(str(db))}?{params}"


def _readonly_hint(db: Path) -> str:
    wal = db.with_name(db.name + "-wal")
    shm = db.with_name(db.name + "-shm")
    wal_has_records = wal.exists() and wal.stat().st_size > 0
    if wal_has_records and not shm.exists() and not os.access(db.parent, os.W_OK):
        return (
            " read-only (its -wal holds records and SQLite must create the -shm beside "
            "it to read them, but the directory is read-only: inspect a copy of the data "
            "directory in a writable place)"
        )
    return " read-only"


def _connect_readonly(db: Path) -> sqlite3.Connection:
    uri = _readonly_uri(db)
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {db} read-only: {exc}") from exc


def _check_header(db: Path) -> None:
    """Refuse (never touch) a file that is not a SQLite database."""
    try:
        with db.open("rb") as fh:
            head = fh.read(len(_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {db}: {exc}") from exc
    if head and head != _HEADER:
        raise StoreError(
            f"{db} is not a SQLite database (it was left untouched): move it away or point "
            "tradeguard at another data directory"
        )


def _one(conn: Any, statement: str) -> Any:
    row = conn.execute(statement).fetchone()
    return None if row is None else row[0]


class SqliteStore(SqlStore):
    """A tradeguard store in a SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        session_id: str = "default",
        create: bool = True,
        readonly: bool = False,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        connect: Callable[[str], Any] | None = None,
        migrate_to: int | None = None,
        accept_loss: bool = False,
    ) -> None:
        super().__init__()
        if synchronous.upper() not in _SYNC_LEVELS:
            raise StoreError(f"synchronous must be one of {sorted(_SYNC_LEVELS)}")
        self.session_id = session_id
        self.readonly = readonly
        self._flavor = _FLAVOR
        self._connect = connect or _default_connect
        self._busy_ms = busy_timeout_ms
        self._sync = synchronous.upper()
        self.data_dir, self.db_path = sqlite_files(Path(path))
        self.url = store_url_for_dir(self.db_path)
        # Before SQLite sees the files: would opening them lose committed data?
        guard = StoreGuard(
            self.db_path, session_id, readonly=readonly, accept_loss=accept_loss
        )
        self.accepted_loss = guard.accepted
        """What was lost when ``accept_loss`` let a damaged store open (else None)."""
        guard.before_create()
        if not self.db_path.exists():
            if readonly or not create:
                raise StoreNotFoundError(f"no tradeguard store at {self.db_path}")
            self._create_file()
        _check_header(self.db_path)
        if not readonly:
            guard.check(guard.probe())
        conn = self._open(self.db_path)
        try:
            if readonly:
                guard.check(read_view(conn, guard.sessions()))
            else:
                guard.settle(conn)
            self._version = self._prepare(conn, migrate_to)
        except BaseException:
            conn.close()
            raise
        self.accepted_loss = guard.accepted
        if guard.accepted is not None:
            _log.warning("accepted loss", store=str(self.db_path), lost=guard.accepted,
                         forensics=str(guard.forensics_dir))
        if readonly:
            conn.close()
            return
        tx = SqlWriteTx(conn, _FLAVOR, session_id, version=self._version)
        try:
            last = tx.record_before(2**62)
        except Exception as exc:
            conn.close()
            raise _FLAVOR.translate(exc, f"opening {self.db_path}") from exc
        self._start_writer(
            tx,
            next_seq=1 if last is None else last.seq + 1,
            last_crc=GENESIS_CRC if last is None else last.crc,
        )
        self._keep_marks(guard, 0 if last is None else last.seq)

    def _keep_marks(self, guard: StoreGuard, last_seq: int) -> None:
        """Start recording the durable high-water mark with every commit."""
        try:
            epoch = self.current_epoch()
            marks = guard.start_marks(last_seq, epoch)
        except BaseException:
            self.close()
            raise
        if marks is not None:
            self.writer.keep_marks(marks, *guard.mark_now())

    def _create_file(self) -> None:
        make_private_dir(self.data_dir)
        # Created by us with 0600 before SQLite sees it: SQLite would use 0644.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    def _open(self, db: Path) -> Any:
        """Open a connection with our PRAGMAs and check that each took effect."""
        try:
            conn = _connect_readonly(db) if self.readonly else self._connect(str(db))
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open SQLite database {db}: {exc}") from exc
        try:
            # Check before any PRAGMA: journal_mode=WAL would rewrite a foreign file's header.
            self._check_ours(conn)
            self._apply_pragmas(conn, db)
        except StoreError:
            conn.close()
            raise
        except Exception as exc:
            conn.close()
            how = _readonly_hint(db) if self.readonly else ""
            raise StoreError(f"cannot open SQLite database {db}{how}: {exc}") from exc
        return conn

    def _apply_pragmas(self, conn: Any, db: Path) -> None:
        # One PRAGMA per call (apsw stops at the first statement returning a row), each
        # read back: a PRAGMA that silently did not apply would void the durability claim.
        if not self.readonly:
            mode = str(_one(conn, "PRAGMA journal_mode=WAL")).lower()
            if mode != "wal":
                raise StoreError(f"{db}: journal_mode is {mode!r}, could not set WAL")
        conn.execute(f"PRAGMA synchronous={self._sync}")
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
        conn.execute("PRAGMA foreign_keys=ON")
        checks = {
            "synchronous": _SYNC_LEVELS[self._sync],
            "busy_timeout": int(self._busy_ms),
            "foreign_keys": 1,
        }
        for name, want in checks.items():
            got = _one(conn, f"PRAGMA {name}")
            if got != want:
                raise StoreError(f"{db}: PRAGMA {name} is {got!r}, expected {want!r}")

    def _prepare(self, conn: Any, migrate_to: int | None) -> int:
        """Validate that the file is ours, migrate it, make sure our session exists."""
        try:
            version = self._validate_and_migrate(conn, migrate_to)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open tradeguard store {self.db_path}: {exc}") from exc
        if not self.readonly:
            self._tighten_modes()
        return version

    def _check_ours(self, conn: Any) -> None:
        """Refuse a SQLite database that is not a tradeguard store (read-only checks)."""
        db = self.db_path
        tables = {
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
        if tables and "schema_migrations" not in tables:
            raise StoreError(
                f"{db} is a SQLite database but not a tradeguard store (tables: "
                f"{', '.join(sorted(tables))}); it was left untouched"
            )
        if tables and "meta" in tables:
            fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if fmt is None or fmt[0] != STORE_FORMAT:
                raise StoreError(f"{db} has no tradeguard format marker; left untouched")

    def _validate_and_migrate(self, conn: Any, migrate_to: int | None) -> int:
        db = self.db_path
        found = current_version(conn, "sqlite")
        if found > LATEST_VERSION:
            raise UnsupportedVersionError(
                f"{db} is at schema version {found}, newer than this build's "
                f"{LATEST_VERSION}: upgrade tradeguard"
            )
        if self.readonly:
            if found == 0:
                raise StoreNotFoundError(f"{db} holds no tradeguard store yet")
            if found < LATEST_VERSION and migrate_to is None:
                raise StoreError(
                    f"{db} is at schema version {found} and needs migrating to "
                    f"{LATEST_VERSION}; open it writable (e.g. `tradeguard recover`) first"
                )
            return found
        apply_migrations(conn, "sqlite", migrate_to, before_migrating=self._pre_migration)
        version = current_version(conn, "sqlite")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT OR IGNORE INTO sessions (session_id, epoch, created_ns) VALUES (?, 0, ?)",
            (self.session_id, time.time_ns()),
        )
        conn.execute("COMMIT")
        return version

    def _tighten_modes(self) -> None:
        """The -wal and -shm files hold journal data too: owner-only, like the db."""
        for suffix in ("-wal", "-shm"):
            side = self.db_path.with_name(self.db_path.name + suffix)
            try:
                if side.stat().st_mode & 0o077:
                    side.chmod(0o600)
            except FileNotFoundError:
                continue

    def _pre_migration(self, found: int, target: int) -> None:
        """Copy a store that holds data before changing its tables."""
        probe = sqlite3.connect(str(self.db_path))
        try:
            has_data = probe.execute(
                "SELECT EXISTS (SELECT 1 FROM journal) OR EXISTS (SELECT 1 FROM runs)"
            ).fetchone()[0]
        finally:
            probe.close()
        if has_data:
            dest = self.data_dir / "backups"
            make_private_dir(dest)
            name = f"pre-migration-{found}-{target}-{time.time_ns()}.db"
            copy_sqlite_file(self.db_path, dest / name)

    def _connect_reader(self) -> Any:
        db = self.db_path
        conn = _connect_readonly(db) if self.readonly else self._connect(str(db))
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
        # Readers never write; query_only makes a slip fail loudly.
        conn.execute("PRAGMA query_only=ON")
        return conn

    def integrity_problems(self) -> list[str]:
        """``PRAGMA quick_check``: damaged pages, and values of the wrong type in the
        STRICT tables (SQLite checks types on write, not on read). About 0.4 s per
        million records on a warm cache."""
        try:
            rows = self._fetch("PRAGMA quick_check(50)")
        except StoreError as exc:
            return [str(exc)]
        found = [str(r[0]) for r in rows]
        return [] if found == ["ok"] else found

    def backup(self, dest: Path) -> Path:
        """Consistent online copy (SQLite backup API) in ``dest``, mode 0600."""
        self._check_open()
        final = Path(dest) / backup_file_name(self.session_id)
        copy_sqlite_file(self.db_path, final)
        return final


def backup_file_name(session_id: str) -> str:
    """``tradeguard-<session>-<UTC time>.db``: sortable by name, unique per nanosecond."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000))
    return f"tradeguard-{session_id}-{stamp}.{now % 1_000_000_000:09d}Z.db"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path) -> None:
    """fsync the finished file, rename it into place, fsync the directory."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def copy_sqlite_file(src: Path, final: Path) -> None:
    """Online, consistent copy of a SQLite database into ``final`` (mode 0600)."""
    make_private_dir(final.parent)
    try:
        with writing_partial(final) as tmp:
            source = sqlite3.connect(str(src), isolation_level=None)
            target = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            _publish(tmp, final)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {src} to {final} failed: {exc}") from exc


def export_to_sqlite(source: Store, dest: Path, *, name: str | None = None) -> Path:
    """Write ``source``'s session into a new SQLite store file under ``dest``.

    How backends that are not SQLite back up: the result has the same tables as any
    SQLite store, so it restores anywhere. ``name`` defaults to ``backup_file_name``.
    """
    final = Path(dest) / (name or backup_file_name(source.session_id))
    make_private_dir(final.parent)
    with writing_partial(final) as tmp:
        with SqliteStore(tmp, session_id=source.session_id) as target:
            target.import_from(source)
        _publish(tmp, final)
    return final


def sessions_in(db: Path) -> list[str]:
    """Session ids stored in a SQLite store file (e.g. a backup)."""
    _check_header(db)
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        rows = conn.execute("SELECT session_id FROM sessions ORDER BY session_id").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{db} is not a readable tradeguard store: {exc}") from exc
    finally:
        conn.close()
    return [str(r[0]) for r in rows]
