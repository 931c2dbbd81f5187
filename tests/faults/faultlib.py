"""Shared pieces of the fault harnesses: run the writer, parse its output, check a store.

The checks read the journal back and verify the hash chain with
``tradeguard.storage.records.chain_crc`` independently of the store's own verify, then
run the CLI's ``verify --json`` and ``recover --json`` (in-process through typer's
runner, which is the same code the console command runs, without paying the interpreter
start-up for each of the many kills).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeguard.storage.records import GENESIS_CRC, chain_crc

__all__ = [
    "REPO",
    "WRITER",
    "Ack",
    "WriterLog",
    "check_acks",
    "cli_json",
    "parse_writer_output",
    "read_store_journal",
    "tokens_present",
]

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).resolve().parent / "writer_proc.py"
PYTHON = sys.executable


@dataclass(frozen=True)
class Ack:
    """One acknowledged append: its seq range, the crc32 of its payloads, its token."""

    first: int
    last: int
    crc: int
    token: str


@dataclass
class WriterLog:
    """Everything one writer process printed."""

    ready: bool = False
    start_seq: int = 0
    acks: list[Ack] = field(default_factory=list)
    failed: list[tuple[str, str, int]] = field(default_factory=list)
    refused: list[tuple[str, str, int]] = field(default_factory=list)
    acked_after_failure: list[Ack] = field(default_factory=list)
    syncs_after_failure: int | None = None
    done: bool = False
    raw: str = ""


def parse_writer_output(text: str) -> WriterLog:
    """Parse the writer's stdout; a torn last line (killed mid-write) is ignored."""
    log = WriterLog(raw=text)
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline was never fully written
    for line in complete:
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "READY":
            log.ready = True
            log.start_seq = int(parts[2])
        elif tag in ("ACK", "ACK_AFTER_FAILURE"):
            ack = Ack(int(parts[1]), int(parts[2]), int(parts[3], 16), parts[4])
            (log.acks if tag == "ACK" else log.acked_after_failure).append(ack)
        elif tag == "FAILED":
            log.failed.append((parts[1], parts[2], int(parts[3])))
        elif tag == "REFUSED":
            log.refused.append((parts[1], parts[2], int(parts[3])))
        elif tag == "SYNCS_AFTER_FAILURE":
            log.syncs_after_failure = int(parts[1])
        elif tag == "DONE":
            log.done = True
    return log


def read_store_journal(data_dir: Path) -> dict[int, Any]:
    """Every journal record of the store in ``data_dir``, with the chain verified here.

    A store whose creation never completed reads as empty. Raises AssertionError
    naming the first record whose seq or crc is wrong.
    """
    from tradeguard.errors import StoreNotFoundError
    from tradeguard.storage.url import open_store

    try:
        store = open_store(str(data_dir), create=False)
    except StoreNotFoundError:
        # Creating the store was itself cut short (killed or power lost): no records.
        return {}
    try:
        records = list(store.read())
    finally:
        store.close()
    crc = GENESIS_CRC
    out: dict[int, Any] = {}
    for expected_seq, rec in enumerate(records, start=1):
        assert rec.seq == expected_seq, f"sequence gap: expected {expected_seq}, got {rec.seq}"
        crc = chain_crc(
            crc,
            seq=rec.seq,
            type=rec.type,
            version=rec.version,
            ts_ns=rec.ts_ns,
            epoch=rec.epoch,
            payload=rec.payload,
        )
        assert crc == rec.crc, f"chain crc broken at seq {rec.seq}"
        out[rec.seq] = rec.payload
    return out


def check_acks(acks: list[Ack], journal: dict[int, bytes], context: str) -> None:
    """Every acknowledged seq is present with exactly the acknowledged payloads."""
    for ack in acks:
        crc = 0
        for seq in range(ack.first, ack.last + 1):
            assert seq in journal, f"{context}: acknowledged seq {seq} ({ack.token}) is lost"
            crc = zlib.crc32(bytes(journal[seq]), crc)
        assert crc == ack.crc, f"{context}: payload of seqs {ack.first}-{ack.last} changed"


def tokens_present(journal: dict[int, bytes], token: str) -> list[int]:
    """Seqs whose payload carries the batch ``token`` (client order ids start with it)."""
    needle = (token + "-").encode()
    return [seq for seq, payload in journal.items() if needle in bytes(payload)]


def cli_json(*args: str, subprocess_run: bool = False) -> tuple[int, dict[str, Any]]:
    """Run ``tradeguard ARGS`` and parse its JSON stdout: (exit code, object).

    In-process through typer's runner by default; ``subprocess_run=True`` runs the real
    console command (``python -m tradeguard.cli.main``) in a child process.
    """
    if subprocess_run:
        proc = subprocess.run(
            [PYTHON, "-c", "from tradeguard.cli.main import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        from typer.testing import CliRunner

        from tradeguard.cli.main import app

        result = CliRunner().invoke(app, list(args))
        code, out, err = result.exit_code, result.stdout, ""
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"tradeguard {' '.join(args)} raised") from result.exception
    try:
        obj = json.loads(out)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"tradeguard {' '.join(args)}: no JSON (exit {code}): {out!r} {err!r}"
        ) from exc
    return code, obj
