"""Helpers for recovery tests: build real sessions on disk with the real service."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tradeguard.app.journal_demo import DemoFlow
from tradeguard.app.service import LocalService
from tradeguard.cli.main import app
from tradeguard.config import Config, StorageSettings
from tradeguard.domain.state import SessionState


def config_for(data_dir: Path, **storage: Any) -> Config:
    return Config(storage=StorageSettings(url=f"sqlite:///{data_dir}", **storage))


async def _write_session(config: Config, events: int, seed: int, close: bool) -> SessionState:
    service = await LocalService.start(config, config.storage.url)
    flow = DemoFlow(service, seed=seed, traders=4)
    await flow.run(max_events=events, stop=asyncio.Event())
    if close:
        await service.close()
        return service.state
    # Leave it as a crash would: no SessionStopped, run marker open, store not closed
    # cleanly (the writer thread is stopped so the test can touch the file).
    await service.journal.close()
    state = service.state.copy()
    service.store.close()
    return state


def write_session(
    data_dir: Path, *, events: int = 600, seed: int = 1, close: bool = True, **storage: Any
) -> SessionState:
    """Run the demo flow into ``data_dir``; return the live state at the end."""
    return asyncio.run(_write_session(config_for(data_dir, **storage), events, seed, close))


def cli(*args: str) -> tuple[int, Any]:
    """Run a tradeguard command in-process; parse its JSON output when there is some."""
    result = CliRunner().invoke(app, list(args))
    out = result.stdout.strip()
    try:
        return result.exit_code, json.loads(out.splitlines()[-1]) if out else None
    except json.JSONDecodeError:
        return result.exit_code, out


def db(data_dir: Path) -> sqlite3.Connection:
    """A raw connection to the store file, for doing damage."""
    conn = sqlite3.connect(data_dir / "tradeguard.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def flip_payload_byte(data_dir: Path, seq: int, index: int = 3) -> None:
    conn = db(data_dir)
    (payload,) = conn.execute("SELECT payload FROM journal WHERE seq = ?", (seq,)).fetchone()
    damaged = bytearray(payload)
    damaged[index % len(damaged)] ^= 0x20
    conn.execute("UPDATE journal SET payload = ? WHERE seq = ?", (bytes(damaged), seq))
    conn.close()
