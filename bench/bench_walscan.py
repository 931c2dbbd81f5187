"""The WAL frame scan that opening a SQLite store runs (issue 7), against reading the file.

``bench_restart.py`` times the scan on the WAL a restart really finds, which is empty
after a clean close and small after a crash of that bench. This measures the scan on
WALs of given sizes, as a busy session leaves them: the default auto-checkpoint lets
the WAL reach about 1,000 pages (4 MiB) before SQLite starts over at its head, and a
long-lived reader can make it grow further. Each WAL is written by sqlite3 (WAL +
synchronous FULL, one 200-byte row per commit, auto-checkpoint off until the size is
reached) and copied aside; the scan runs on the copy, beside a plain read of the same
bytes (the floor), median of ``--repeat`` runs, pages in the OS cache. Prints JSON:

    .venv/bin/python bench/bench_walscan.py [--mib 4,16,64] [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tradeguard.storage.walcheck import scan_wal


def make_wal(base: Path, mib: int) -> Path:
    """A WAL of about ``mib`` MiB of committed frames, copied next to its database."""
    db = base / f"w{mib}.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # building only; the scan reads the result
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE j (seq INTEGER PRIMARY KEY, payload BLOB)")
    wal = base / f"w{mib}.db-wal"
    seq = 0
    while not wal.exists() or wal.stat().st_size < mib * 1024 * 1024:
        conn.execute("BEGIN")
        for _ in range(50):
            seq += 1
            conn.execute("INSERT INTO j VALUES (?, ?)", (seq, bytes(200)))
        conn.execute("COMMIT")
    copy = base / f"copy{mib}.db-wal"
    shutil.copyfile(wal, copy)
    shutil.copyfile(db, base / f"copy{mib}.db")
    conn.close()
    return copy


def median_ms(repeat: int, fn: Any) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, in ms."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    """Build the WALs, time scan and read, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", default="4,16,64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tg-bench-walscan-", dir=args.dir))
    result: dict[str, Any] = {"repeat": args.repeat, "wals": []}
    try:
        for mib in (int(m) for m in args.mib.split(",")):
            wal = make_wal(base, mib)
            scan = scan_wal(wal)
            result["wals"].append({
                "wal_bytes": wal.stat().st_size,
                "scan_ms": median_ms(args.repeat, lambda w=wal: scan_wal(w)),
                "read_only_ms": median_ms(args.repeat, lambda w=wal: w.read_bytes()),
                "drops_commits": scan.drops_commits,
            })
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
