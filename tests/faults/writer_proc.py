"""The writer subprocess the kill and I/O-fault tests run.

    python tests/faults/writer_proc.py DATA_DIR [--backend store|raw] [--threads N]
        [--seed S] [--max-batch N] [--max-appends N]
        [--fiu-point NAME --fiu-after-acks K --fiu-nth N]

It opens the store in DATA_DIR and appends encoded ``OrderIntended`` events (single
events and small batches) from several threads, so concurrent appends share commits.
Protocol on stdout, one line each, flushed:

- ``READY <pid> <last_seq>`` once the store is open;
- ``ACK <first> <last> <crc32 of the payloads, hex> <token>`` only after ``append``
  returned (the records are durable);
- ``FAILED <ErrorClass> <token> <events>`` when an append raised: its outcome is unknown;
- ``REFUSED <ErrorClass> <token> <events>`` when an append started after a failure was seen
  raised (it must not have written anything);
- ``SYNCS_AFTER_FAILURE <n>`` with the fault point's call count after the first failure;
- ``DONE`` before a normal exit.

Every event's client order id starts with the batch token, so a test can find a batch's
records in the journal by the token bytes in their payloads.

With ``--fiu-point`` (the process must run under ``fiu-run -x``), after ``K`` ACKs the
writer arms libfiu's ``NAME`` through ``fiu_enable_external``: the Nth call from then on
fails with EIO, and so does every later one.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import sys
import threading
import time
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

_EIO = 5
_FIU_CB = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(ctypes.c_uint),
)


class _Output:
    """Line-atomic, flushed stdout shared by the writer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


class _FiuFault:
    """Arms one libfiu failure point to fail from its Nth call on (counting all calls)."""

    def __init__(self, point: str, nth: int) -> None:
        self.point = point
        self.nth = nth
        self.calls = 0
        self.calls_at_first_failure: int | None = None
        if "fiu_posix_preload" not in os.environ.get("LD_PRELOAD", ""):
            raise SystemExit("--fiu-point needs the process to run under fiu-run -x")
        self.lib = ctypes.CDLL("libfiu.so.0")
        self.lib.fiu_enable_external.argtypes = [
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_uint,
            _FIU_CB,
        ]
        self.lib.fiu_disable.argtypes = [ctypes.c_char_p]
        self._cb = _FIU_CB(self._decide)  # kept referenced: libfiu holds the pointer

    def _decide(self, name: bytes, failnum: Any, failinfo: Any, flags: Any) -> int:
        self.calls += 1
        if self.calls >= self.nth:
            if self.calls_at_first_failure is None:
                self.calls_at_first_failure = self.calls
            return 1
        return 0

    def arm(self) -> None:
        # failinfo is the errno the posix wrappers set: EIO, as a failing disk reports.
        rc = self.lib.fiu_enable_external(
            self.point.encode(), 1, ctypes.c_void_p(_EIO), 0, self._cb
        )
        if rc != 0:
            raise SystemExit(f"fiu_enable_external({self.point}) failed: {rc}")

    def calls_after_failure(self) -> int:
        if self.calls_at_first_failure is None:
            return 0
        return self.calls - self.calls_at_first_failure

    def disarm(self) -> None:
        self.lib.fiu_disable(self.point.encode())


class _RawBackend:
    """The raw-SQL journal of ``rawjournal.py`` (harness self-test)."""

    def __init__(self, data_dir: Path) -> None:
        import sqlite3

        sys.path.insert(0, str(Path(__file__).parent))
        from rawjournal import RAW_DB_NAME, RawJournal

        data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(data_dir / RAW_DB_NAME), isolation_level=None, check_same_thread=False
        )
        self.journal = RawJournal(conn)
        self.lock = threading.Lock()
        self.failed = False
        row = conn.execute("SELECT max(seq) FROM journal").fetchone()
        self.start_seq = int(row[0] or 0)

    def payloads(self, tokens: Sequence[str]) -> list[bytes]:
        return [f"order_intended {t}".encode() for t in tokens]

    def append(self, payloads: list[bytes]) -> tuple[int, int]:
        with self.lock:
            if self.failed:
                raise RuntimeError("raw journal failed earlier")
            try:
                return self.journal.append(payloads, ts_ns=time.time_ns())
            except Exception:
                self.failed = True
                raise

    def close(self) -> None:
        self.journal.conn.close()


class _StoreBackend:
    """The real ``SqliteStore`` through ``open_store``, with real encoded events."""

    def __init__(self, data_dir: Path, synchronous: str) -> None:
        from tradeguard.storage.url import open_store

        self.store = open_store(str(data_dir), synchronous=synchronous)
        # A run marker, closed only by a clean exit: a kill leaves an unclean shutdown.
        self.run_id = f"writer-{os.getpid()}-{time.time_ns()}"
        self.store.begin_run(self.run_id)
        self.epoch = self.store.current_epoch()
        self.start_seq = self.store.last_seq()

    def payloads(self, tokens: Sequence[str]) -> list[Any]:
        from tradeguard.domain.enums import MarketKind, OrderType, Side
        from tradeguard.domain.events import OrderIntended
        from tradeguard.domain.ids import ClientOrderId, Symbol
        from tradeguard.storage.codec import encode_event

        now = time.time_ns()
        return [
            encode_event(
                OrderIntended(
                    ts_ns=now,
                    client_order_id=ClientOrderId(token),
                    symbol=Symbol("BTC/USDT"),
                    kind=MarketKind.SPOT,
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    amount=Decimal("0.001"),
                    price=Decimal("50000.10"),
                )
            )
            for token in tokens
        ]

    def append(self, records: list[Any]) -> tuple[int, int]:
        result = self.store.append(records, epoch=self.epoch)
        return result.first_seq, result.last_seq

    def close(self) -> None:
        self.store.end_run(self.run_id)
        self.store.close()


def _payload_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else bytes(item.payload)


def main(argv: list[str] | None = None) -> int:
    """Run the writer until killed, until ``--max-appends`` or until a failure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--backend", choices=["store", "raw"], default="store")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--max-appends", type=int, default=0, help="0: until killed")
    parser.add_argument("--refused-probes", type=int, default=3)
    parser.add_argument("--fiu-point", default="")
    parser.add_argument("--fiu-after-acks", type=int, default=5)
    parser.add_argument("--fiu-nth", type=int, default=1)
    args = parser.parse_args(argv)

    out = _Output()
    fault = _FiuFault(args.fiu_point, args.fiu_nth) if args.fiu_point else None
    backend: _RawBackend | _StoreBackend = (
        _RawBackend(args.data_dir)
        if args.backend == "raw"
        else _StoreBackend(args.data_dir, args.synchronous)
    )
    out.line(f"READY {os.getpid()} {backend.start_seq}")

    run = f"{os.getpid():x}{args.seed % 4096:03x}"
    state_lock = threading.Lock()
    acks = 0
    appends = 0
    failure_seen = threading.Event()
    armed = False

    def worker(tid: int) -> None:
        nonlocal acks, appends, armed
        rng = random.Random(args.seed * 1000 + tid)
        n = 0
        while True:
            with state_lock:
                if args.max_appends and appends >= args.max_appends:
                    return
                appends += 1
                if fault is not None and not armed and acks >= args.fiu_after_acks:
                    fault.arm()
                    armed = True
            n += 1
            token = f"{run}-{tid}-{n}"
            started_after_failure = failure_seen.is_set()
            size = 1 if rng.random() < 0.5 else rng.randint(1, args.max_batch)
            items = backend.payloads([f"{token}-{i}" for i in range(size)])
            try:
                first, last = backend.append(items)
            except Exception as exc:
                kind = type(exc).__name__
                if started_after_failure:
                    out.line(f"REFUSED {kind} {token} {size}")
                    return
                failure_seen.set()
                out.line(f"FAILED {kind} {token} {size}")
                continue  # the next attempt must be refused at once
            crc = 0
            for item in items:
                crc = zlib.crc32(_payload_bytes(item), crc)
            with state_lock:
                acks += 1
            if started_after_failure:
                out.line(f"ACK_AFTER_FAILURE {first} {last} {crc:08x} {token}")
                return
            out.line(f"ACK {first} {last} {crc:08x} {token}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fault is not None:
        out.line(f"SYNCS_AFTER_FAILURE {fault.calls_after_failure()}")
        # Disarm before anything else runs: the callback must not fire during shutdown.
        fault.disarm()
    if not failure_seen.is_set():
        backend.close()
    out.line("DONE")
    sys.stdout.flush()
    # After a failure the store is in an unknown state: leave without a clean close,
    # the way a process that lost its disk would, and let recovery settle it.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
