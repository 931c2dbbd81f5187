"""An apsw VFS shim that simulates power loss for SQLite.

Every write passes through to the real file (so SQLite reads back what it wrote, as it
would from the page cache), but the shim also remembers, per file, which writes and
truncates happened since that file's last ``xSync``: the bytes a power cut may lose. At
a chosen I/O number the shim "cuts power": each file is rebuilt from the data that was
synced plus a random subset of the unsynced operations (some dropped, some applied out
of order, some torn at 512-byte sector boundaries), and every later call fails with an
I/O error. The files then hold what a disk might hold after the machine lost power, and
the test reopens them normally.

Model limits (deliberate): directory entries are treated as durable (a created file
exists after the cut); the -shm wal-index is deleted at the cut because its content
means nothing after a crash (SQLite rebuilds it from the WAL); a deleted file stays
deleted.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import apsw

__all__ = ["SECTOR", "PowerLossVFS"]

SECTOR = 512
"""Torn writes keep or lose whole 512-byte sectors, as a disk would."""


@dataclass
class _Write:
    offset: int
    data: bytes


@dataclass
class _Truncate:
    size: int


@dataclass
class _FileState:
    """What is durable for one path, and what happened to it since its last sync."""

    durable: bytearray
    pending: list[_Write | _Truncate] = field(default_factory=list)

    def sync(self) -> None:
        for op in self.pending:
            _apply(self.durable, op)
        self.pending.clear()


def _apply(image: bytearray, op: _Write | _Truncate) -> None:
    if isinstance(op, _Truncate):
        del image[op.size :]
        return
    if len(image) < op.offset:
        image.extend(b"\0" * (op.offset - len(image)))
    image[op.offset : op.offset + len(op.data)] = op.data


def _tear(rng: random.Random, op: _Write) -> list[_Write]:
    """Keep a random subset of the write's 512-byte sectors (at least one is lost)."""
    n = (len(op.data) + SECTOR - 1) // SECTOR
    keep = [i for i in range(n) if rng.random() < 0.5]
    if len(keep) == n:
        keep.pop(rng.randrange(n))
    return [_Write(op.offset + i * SECTOR, op.data[i * SECTOR : (i + 1) * SECTOR]) for i in keep]


class PowerLossVFS(apsw.VFS):  # type: ignore[misc]
    """A VFS named ``name`` over the default one that cuts power at I/O ``cut_at``.

    Counted I/Os are xRead, xWrite, xSync and xTruncate on any file. With
    ``cut_at=None`` it never cuts by itself (``cut()`` can be called by hand). After the
    cut every call raises ``apsw.IOError``; ``dead`` tells the test it happened.
    """

    def __init__(
        self,
        name: str,
        *,
        rng: random.Random,
        cut_at: int | None,
        keep_probability: float = 0.5,
        tear_probability: float = 0.3,
        reorder_probability: float = 0.3,
    ) -> None:
        self.vfs_name = name
        self.rng = rng
        self.cut_at = cut_at
        self.keep_probability = keep_probability
        self.tear_probability = tear_probability
        self.reorder_probability = reorder_probability
        self.io_count = 0
        self.dead = False
        self.files: dict[str, _FileState] = {}
        self.cut_stats: dict[str, int] = {}
        super().__init__(name, "")

    def tick(self) -> None:
        """Count one I/O; cut power when the chosen number is reached; fail once dead."""
        if self.dead:
            raise apsw.IOError("power is off")
        self.io_count += 1
        if self.cut_at is not None and self.io_count >= self.cut_at:
            self.cut()
            raise apsw.IOError("power cut")

    def state_for(self, path: str) -> _FileState:
        """The tracked state of ``path``; its content at first sight counts as durable."""
        state = self.files.get(path)
        if state is None:
            try:
                with open(path, "rb") as f:
                    content = f.read()
            except FileNotFoundError:
                content = b""
            state = _FileState(bytearray(content))
            self.files[path] = state
        return state

    def cut(self) -> None:
        """Rewrite every tracked file as the disk may hold it after losing power."""
        self.dead = True
        kept = dropped = torn = 0
        for path, state in self.files.items():
            image = bytearray(state.durable)
            survivors: list[_Write | _Truncate] = []
            for op in state.pending:
                if self.rng.random() >= self.keep_probability:
                    dropped += 1
                elif (
                    isinstance(op, _Write)
                    and len(op.data) > SECTOR
                    and self.rng.random() < self.tear_probability
                ):
                    torn += 1
                    survivors.extend(_tear(self.rng, op))
                else:
                    kept += 1
                    survivors.append(op)
            if len(survivors) > 1 and self.rng.random() < self.reorder_probability:
                self.rng.shuffle(survivors)
            for op in survivors:
                _apply(image, op)
            if os.path.exists(path):
                # Rewritten in place: SQLite still holds fds on these inodes, but every
                # call through them fails from now on.
                with open(path, "wb") as f:
                    f.write(image)
            state.durable = image
            state.pending.clear()
            # The wal-index means nothing after a crash: the next open rebuilds it.
            for shm in {path + "-shm", path.removesuffix("-wal") + "-shm"}:
                if os.path.exists(shm):
                    os.unlink(shm)
        self.cut_stats = {"kept": kept, "dropped": dropped, "torn": torn}

    def xOpen(self, name: Any, flags: list[int]) -> _PowerLossFile:
        """Open through the default VFS; track the path (temp files are not tracked)."""
        if self.dead:
            raise apsw.IOError("power is off")
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        state = self.state_for(path) if path else None
        return _PowerLossFile(self, name, flags, state)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        """Delete for real; a deleted file stays deleted after the cut."""
        if self.dead:
            # A dead machine deletes nothing. Not an error: SQLite deletes the WAL while
            # closing, where apsw could only report an exception as "unraisable".
            return
        self.files.pop(filename, None)
        super().xDelete(filename, syncdir)


class _PowerLossFile(apsw.VFSFile):  # type: ignore[misc]
    """One open file: writes pass through and are remembered until the next sync."""

    def __init__(
        self, vfs: PowerLossVFS, name: Any, flags: list[int], state: _FileState | None
    ) -> None:
        self.vfs = vfs
        self.state = state
        super().__init__("", name, flags)

    def xRead(self, amount: int, offset: int) -> bytes:
        self.vfs.tick()
        data: bytes = super().xRead(amount, offset)
        return data

    def xWrite(self, data: bytes, offset: int) -> None:
        self.vfs.tick()
        super().xWrite(data, offset)
        if self.state is not None:
            self.state.pending.append(_Write(offset, bytes(data)))

    def xTruncate(self, newsize: int) -> None:
        self.vfs.tick()
        super().xTruncate(newsize)
        if self.state is not None:
            self.state.pending.append(_Truncate(newsize))

    def xSync(self, flags: int) -> None:
        self.vfs.tick()
        super().xSync(flags)
        if self.state is not None:
            self.state.sync()

    def xFileSize(self) -> int:
        if self.vfs.dead:
            raise apsw.IOError("power is off")
        size: int = super().xFileSize()
        return size
